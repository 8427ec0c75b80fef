"""Whole ``--spine-soak`` sessions in a real process: the window stops by itself, repeats with distinct fresh
seeds, writes its figures where the v1.2 gate reads them, prints every failing seed with its replay command, and
an interrupted soak (SIGINT or SIGTERM) leaves a bundle marked incomplete that verification still reads."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.cli import main as spine_main
from pytest_spine.evidence.verify import verify_bundle

CP_AND_FLOOD = ("--spine-scenario=CH-DUPLICATE-COMMAND-REPLAY", "--spine-scenario=CH-POLL-TIMEOUT-BURST",
                "--spine-scenario=CH-REPLAY-FLOOD")


def pytest_args(evidence: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--spine-env=reference", "--spine-profile=pr",
            f"--spine-evidence-dir={evidence}", "-p", "no:cacheprovider", *args]


def only_bundle(evidence: Path) -> Path:
    [bundle] = sorted((evidence / "evidence" / "runs").iterdir())
    return bundle


def read(bundle: Path, relpath: str) -> Any:
    return json.loads((bundle / relpath).read_text())


def test_a_soak_stops_by_itself_and_its_figures_reach_the_v12_gate(tmp_path: Path) -> None:
    evidence = tmp_path / "reports"
    done = subprocess.run(pytest_args(evidence, "--spine-soak=20s", "-k", "test_gate or test_soak or v12_gate",
                                      *CP_AND_FLOOD),
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    assert "soak: iteration 1 CH-DUPLICATE-COMMAND-REPLAY-seed=" in out
    assert "reached its deadline; 0 failed" in out
    bundle = only_bundle(evidence)
    window = read(bundle, "soak/soak_window.json")
    assert window["stopped"] == "deadline" and window["interrupted"] is False
    assert window["window_seconds"] >= window["requested_seconds"] == 20  # it ran to the deadline, then stopped
    assert len(window["iterations"]) >= 2 and window["failures"] == []
    seeds = window["seeds"]
    assert len(set(seeds)) == len(seeds) == len(window["iterations"]) and 3 not in seeds and 1 not in seeds
    assert set(window["scenarios"]) <= {"CH-DUPLICATE-COMMAND-REPLAY", "CH-POLL-TIMEOUT-BURST", "CH-REPLAY-FLOOD"}
    figures = window["figures"]
    assert figures["soak_iterations"] == len(seeds) and figures["soak_failures"] == 0
    assert figures["command_success_rate"] == 1.0 and figures["poll_timeout_recovery_rate"] == 1.0
    assert figures["duplicate_heavy_executions"] == 0
    if "CH-REPLAY-FLOOD" in window["scenarios"]:
        assert figures["replay_rejection_ratio"] >= 0.999
    gate = read(bundle, "control_plane/v12_gate.json")
    assert gate["soak"]["iterations"] == len(seeds) and gate["soak"]["seeds"] == seeds
    assert gate["status"] == "PASS"
    assert gate["figures"]["command_updates"] > figures["command_updates"] > 0
    verdicts = {v["id"]: v for v in read(bundle, "verdicts.json")["verdicts"]}
    assert verdicts["SOAK-WINDOW"]["status"] == "PASS"
    assert read(bundle, "figures.json")["figures"]["soak_window_seconds"] == window["window_seconds"]
    assert verify_bundle(bundle).ok
    assert spine_main(["evidence", "verify", str(bundle)]) == 0


def test_a_failing_iteration_prints_its_seed_and_the_replay_fails_the_same_way(tmp_path: Path) -> None:
    evidence = tmp_path / "reports"
    done = subprocess.run(pytest_args(evidence, "--spine-soak=2s", "-k", "test_soak",
                                      "--spine-mutant=dispatch_key_ignored",
                                      "--spine-scenario=CH-SUCCESS-THEN-REPORTING-FAILURE"),
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout[-3000:]
    bundle = only_bundle(evidence)
    window = read(bundle, "soak/soak_window.json")
    first = window["failures"][0]
    replay = (f"pytest --spine-env=reference -k test_scenario --spine-scenario=CH-SUCCESS-THEN-REPORTING-FAILURE "
              f"--spine-seed={first['seed']} --spine-mutant=dispatch_key_ignored")
    assert (f"soak: iteration {first['number']} {first['instance']} FAIL" in done.stdout
            and f"seed {first['seed']}: " in done.stdout and f"replay with: {replay}" in done.stdout)
    assert len(window["failures"]) == len(window["iterations"])  # the mutant fails every seed
    assert sorted(p.name for p in (bundle / "soak" / first["instance"]).iterdir()) == ["history.jsonl.gz",
                                                                                       "result.json"]
    verdict = {v["id"]: v for v in read(bundle, "verdicts.json")["verdicts"]}["SOAK-WINDOW"]
    assert verdict["status"] == "FAIL" and f"(seed {first['seed']})" in verdict["reason"]
    assert read(bundle, "bundle_status.json")["gate_decision"]["decision"] == "No-Go"

    again = subprocess.run([sys.executable, "-m", *shlex.split(replay),
                            f"--spine-evidence-dir={tmp_path / 'replay'}", "-p", "no:cacheprovider"],
                           cwd=tmp_path, capture_output=True, text=True, check=False)
    assert again.returncode == 1
    assert f"test_scenario[{first['instance']}]" in again.stdout


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_soak_leaves_a_readable_bundle_marked_incomplete(tmp_path: Path, signum: int) -> None:
    evidence = tmp_path / "reports"
    # As from a terminal: a suite started in the background by a shell inherits SIGINT ignored, and Python only
    # turns SIGINT into KeyboardInterrupt when it starts with the default disposition.
    process = subprocess.Popen(pytest_args(evidence, "--spine-soak=300s", "-k", "test_soak", *CP_AND_FLOOD[:2]),
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_default_sigint)
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:  # the soak prints a line per iteration: interrupt it after the second
        seen.append(line)
        if line.startswith("soak: iteration 2 "):
            process.send_signal(signum)
            break
    rest = process.communicate()[0]
    assert process.returncode == pytest.ExitCode.INTERRUPTED, "".join(seen)[-2000:] + rest[-2000:]
    bundle = only_bundle(evidence)
    status = read(bundle, "bundle_status.json")
    assert status["status"] == "incomplete"
    window = read(bundle, "soak/soak_window.json")
    assert window["interrupted"] is True and window["stopped"] == "interrupted"
    assert len(window["iterations"]) >= 2
    report = verify_bundle(bundle)
    # Only the incomplete mark and the phases this narrowed run never reached: no digest or schema problem.
    assert "bundle_status.json" in [p.path for p in report.problems]
    others = [p for p in report.problems if p.path != "bundle_status.json"]
    assert all("required by the evidence contract" in p.reason for p in others), [str(p) for p in others]
    assert not list(bundle.rglob(".*.tmp"))
    assert "soak/soak_window.json" in read(bundle, "manifest.json")["files"]
    assert spine_main(["evidence", "verify", str(bundle)]) != 0
