"""The command line: ``provision`` (topics and buckets), ``start``, ``run`` and ``teardown`` for operators,
``gate`` and ``lane`` for the daemons ``start`` spawns."""

from __future__ import annotations

import argparse
import os

from miniplat.config import CONFIG_ENV, ConfigProblem, load
from miniplat.util import log


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="miniplat", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name in ("provision", "start", "run", "teardown", "gate", "lane"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--config", default=os.environ.get(CONFIG_ENV), required=CONFIG_ENV not in os.environ)
        if name in ("provision", "start", "run", "teardown"):
            cmd.add_argument("--platform-run-id", default=None)
        if name == "run":  # when the harness is the traffic source: up to READY, then (after its stream) the rest
            cmd.add_argument("--from-phase", default="P1")
            cmd.add_argument("--to-phase", default="P11")
        if name == "lane":
            cmd.add_argument("--lane", required=True)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    daemon = args.command in ("gate", "lane")
    try:
        cfg = load(args.config, None if daemon else args.platform_run_id, daemon=daemon)
    except ConfigProblem as problem:
        log(args.command, str(problem))
        return 2
    if args.command == "provision":
        from miniplat.start import provision

        return provision(cfg)
    if args.command == "start":
        from miniplat.start import main as start

        return start(cfg)
    if args.command == "run":
        from miniplat.run import main as run

        return run(cfg, args.from_phase, args.to_phase)
    if args.command == "teardown":
        from miniplat.teardown import main as teardown

        return teardown(cfg)
    if args.command == "gate":
        from miniplat.gate import serve

        return serve(cfg)
    from miniplat.lane import serve as lane

    return lane(cfg, args.lane)
