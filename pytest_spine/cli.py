"""The ``spine`` command. Each sub-command lives in ``pytest_spine/commands/<name>.py`` and exposes
``register(subparsers)``; the parser is assembled from whatever modules are there, imported lazily so
``spine --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from pytest_spine import commands
from pytest_spine.errors import SpineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spine",
        description="Verify an event-driven platform and attack it with chaos (the pytest-spine toolbox)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except SpineError as error:
        print(f"spine: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spine: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
