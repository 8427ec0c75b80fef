from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telemetry"))

from telemetry_builders import write_bundle

from pytest_spine.cli import main
from pytest_spine.telemetry.gatefile import PACKAGED_GATES_DIR

EXAMPLES = PACKAGED_GATES_DIR / "examples"


def metrics_dir(tmp_path: Path, simulator: str) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir()
    shutil.copy(EXAMPLES / simulator, folder / "simulator_metrics.json")
    shutil.copy(EXAMPLES / "stabilize_samples.csv", folder)
    return folder


def statuses(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    return {v["id"]: v["status"] for v in json.loads(capsys.readouterr().out)["verdicts"]}


def test_packaged_gates_without_a_metrics_dir_are_not_applicable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SPINE_METRICS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["metrics", "check", "--json"]) == 0
    assert set(statuses(capsys).values()) == {"NOT_APPLICABLE"}


@pytest.mark.parametrize(("simulator", "code", "expected"), [
    ("simulator_metrics.json", 0, {"MET-CONVERGENCE-1K": "PASS", "MET-REPLAY-REJECTION": "PASS"}),
    ("simulator_metrics_v0_1.json", 0, {"MET-CONVERGENCE-1K": "PASS", "MET-QUARANTINE-REACTION": "PASS"}),
    ("simulator_metrics_slow.json", 1, {"MET-CONVERGENCE-1K": "FAIL", "MET-REPLAY-REJECTION": "FAIL",
                                        "MET-STABILIZE-P95-SAMPLES": "PASS"}),
    ("simulator_metrics_v1_0.json", 1, {"MET-CONVERGENCE-1K": "FAIL", "MET-UNSIGNED-ACCEPTED": "FAIL"}),
])
def test_the_examples_pass_or_fail_as_their_data_says(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      simulator: str, code: int, expected: dict[str, str]) -> None:
    folder = metrics_dir(tmp_path, simulator)
    files = sorted(str(p) for p in PACKAGED_GATES_DIR.glob("*.yaml"))
    assert main(["metrics", "check", *files, "--metrics-dir", str(folder), "--json"]) == code
    found = statuses(capsys)
    assert {k: found[k] for k in expected} == expected


def test_text_output_names_the_refused_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = metrics_dir(tmp_path, "simulator_metrics_v1_0.json")
    assert main(["metrics", "check", str(PACKAGED_GATES_DIR / "membership_simulator.yaml"),
                 "--metrics-dir", str(folder)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("FAIL           MET-CONVERGENCE-1K: cannot read the gate's source:")
    assert "simulator schema '1.0' is a newer major version" in first


def test_figures_gates_read_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_bundle(tmp_path / "a", figures={"replay_rejection_ratio": 0.9999})
    bad = write_bundle(tmp_path / "b", figures={"replay_rejection_ratio": 0.98})
    gatefile = str(EXAMPLES / "run_figures.yaml")
    assert main(["metrics", "check", gatefile, "--figures", str(good)]) == 0
    assert main(["metrics", "check", gatefile, "--figures", str(bad)]) == 1
    assert "replay_rejection_ratio = 0.98" in capsys.readouterr().out


def test_a_malformed_gate_file_exits_2_naming_the_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "gates.yaml"
    broken.write_text("gatefile_version: 1\ngates: []\n")
    assert main(["metrics", "check", str(broken)]) == 2
    assert f"{broken}: at gates:" in capsys.readouterr().err
