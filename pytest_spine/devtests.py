"""``./run tests``: the project's own test suite, with the local services it needs started first and
stopped afterwards (also on failure). Not part of the public API.

Without arguments the suite runs in two lanes at once: the tests that need the stack (markers ``services``
and ``postgres``: mostly waiting on Kafka, timeouts and killed processes) and the in-process tests (mostly
CPU). On two cores that roughly halves the wall time, and the lanes share nothing but the machine: the
stack lane alone talks to the stack. ``SPINE_TEST_LANES=1`` (or any pytest argument) runs one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STACK_MARKERS = "services or postgres"


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    started = _start_services(root, env)
    try:
        command = [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider"]
        if argv or env.get("SPINE_TEST_LANES", "2") == "1":
            print("run:", " ".join(command + argv), flush=True)
            return subprocess.call(command + argv, cwd=root, env=env)
        return _two_lanes(root, env, command)
    finally:
        if started:
            subprocess.call([sys.executable, "-m", "pytest_spine.cli", "stack", "down", "--dir",
                             str(root / ".spine" / "stack")], cwd=root, env=env)


def _two_lanes(root: Path, env: dict[str, str], command: list[str]) -> int:
    """The in-process lane runs in the background into a log (printed whole afterwards, so the two outputs
    never interleave); the stack lane streams. The exit status fails when either lane fails."""
    log_path = root / ".spine" / "tests-in-process.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    in_process = [*command, "-m", f"not ({STACK_MARKERS})"]
    on_stack = [*command, "-m", STACK_MARKERS]
    print("run (in-process lane, output below when it ends):", " ".join(in_process), flush=True)
    print("run (stack lane):", " ".join(on_stack), flush=True)
    with log_path.open("w", encoding="utf-8") as log:
        background = subprocess.Popen(in_process, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            stack_code = subprocess.call(on_stack, cwd=root, env=env)
            in_process_code = background.wait()
        finally:
            if background.poll() is None:  # interrupted: the background lane must not outlive us
                background.terminate()
                background.wait()
    print(f"\n===== in-process lane ({log_path}) =====", flush=True)
    print(log_path.read_text(encoding="utf-8", errors="replace"), flush=True)
    codes = {"stack lane": _lane_code(stack_code), "in-process lane": _lane_code(in_process_code)}
    print("run: " + ", ".join(f"{lane} exit {code}" for lane, code in codes.items()), flush=True)
    return max(codes.values())


def _lane_code(code: int) -> int:
    return 0 if code == 5 else code  # 5: the lane selected no test (e.g. a -k elsewhere); not a failure


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
