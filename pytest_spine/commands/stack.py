"""``spine stack up | down | status``: the local stack (Kafka KRaft, S3 server, PostgreSQL, Toxiproxy)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_DEFAULT_DIR = Path(".spine/stack")


def register(sub: Any) -> None:
    parser = sub.add_parser("stack", help="Start, stop and inspect the local stack on 127.0.0.1")
    inner = parser.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=_DEFAULT_DIR,
                        help="Stack directory holding the state file, data and logs (default .spine/stack)")
    up = inner.add_parser("up", parents=[common], help="Install (first time, cached) and start the services")
    up.add_argument("--services", default=None,
                    help="Comma-separated subset of kafka,s3,postgres,toxiproxy (default all)")
    up.add_argument("--handles", type=Path, default=None,
                    help="Handles registry naming the topics and buckets to create (default local_parity)")
    up.add_argument("--json", action="store_true", help="Print the status as JSON once up")
    up.set_defaults(func=_up)
    install = inner.add_parser("install", help="Fetch Kafka (Maven Central) and build toxiproxy-server (go install) "
                                               "into the cache, without starting anything")
    install.set_defaults(func=_install)
    down = inner.add_parser("down", parents=[common], help="Stop everything the stack started; idempotent")
    down.set_defaults(func=_down)
    status = inner.add_parser("status", parents=[common], help="Show services, pids, endpoints and logs")
    status.add_argument("--json", action="store_true", help="Print the status as JSON")
    status.set_defaults(func=_status)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _up(args: argparse.Namespace) -> int:
    from pytest_spine.handles import load_registry
    from pytest_spine.stack.lifecycle import parse_services, stack_status, stack_up

    services = parse_services(args.services)
    registry = load_registry(args.handles)
    state = stack_up(args.dir, services, registry=registry, log=_say)
    status = stack_status(Path(state.stack_dir))
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        _print_status(status)
        print(f"stack up in {state.timings_s.get('total', 0.0):.1f}s")
    return 0


def _install(args: argparse.Namespace) -> int:
    from pytest_spine.stack.install import cache_root
    from pytest_spine.stack.lifecycle import install_services

    timings = install_services(("kafka", "toxiproxy"), _say)
    done = ", ".join(f"{k.removeprefix('install_')} {v:.1f}s" for k, v in timings.items()) or "already cached"
    print(f"installed into {cache_root()}: {done}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from pytest_spine.stack.lifecycle import stack_down

    stopped = stack_down(args.dir, log=_say)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pytest_spine.stack.lifecycle import stack_status

    status = stack_status(args.dir)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        _print_status(status)
    return 0 if status["up"] else 1


def _print_status(status: dict[str, Any]) -> None:
    if not status["services"]:
        print(f"{status['stack_dir']}: down ({status.get('reason', '')})")
        return
    print(f"{status['stack_dir']}: {'up' if status['up'] else 'DEGRADED'} since {status['started_at_utc']}")
    for name, service in status["services"].items():
        state = "running" if service["running"] else "STOPPED"
        print(f"  {name:<10} {state:<8} pid {service.get('pid', '-'):<8} log {service.get('log_path', '-')}")
    for name, value in sorted(status["endpoints"].items()):
        print(f"  {name:<32} {value}")
