"""``./run tests``: the project's own test suite, with the local services it needs started first and
stopped afterwards (also on failure). Not part of the public API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    started = _start_services(root, env)
    try:
        command = [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", *argv]
        print("run:", " ".join(command), flush=True)
        return subprocess.call(command, cwd=root, env=env)
    finally:
        if started:
            subprocess.call([sys.executable, "-m", "pytest_spine.cli", "stack", "down", "--dir",
                             str(root / ".spine" / "stack")], cwd=root, env=env)


def _start_services(root: Path, env: dict[str, str]) -> bool:
    """Start the local stack when the stack command exists; tests needing it read SPINE_STACK_DIR."""
    try:
        import pytest_spine.commands.stack  # noqa: F401
    except ImportError:
        return False
    stack_dir = root / ".spine" / "stack"
    env["SPINE_STACK_DIR"] = str(stack_dir)
    code = subprocess.call([sys.executable, "-m", "pytest_spine.cli", "stack", "up", "--dir", str(stack_dir)],
                           cwd=root, env=env)
    if code != 0:
        print("run: the local stack did not start; tests that need it will fail and say why", flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
