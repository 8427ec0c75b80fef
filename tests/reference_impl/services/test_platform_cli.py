"""The reference platform's command line without a stack: its config is checked before anything starts, and
each service process gets only the mutants it understands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reference_impl.services.platform import load_settings, main


def _config(tmp_path: Path, **extra: Any) -> Path:
    document = {"state_dir": str(tmp_path / "state"), "kafka_bootstrap": "127.0.0.1:1", "buckets": {},
                "prefixes": {}, "topics": {}, "consumer_groups": {}, "gate": {"port": 1}, **extra}
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(document))
    return path


def test_an_unknown_mutant_or_a_missing_run_id_exits_2_naming_it(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(_config(tmp_path, mutations=["no_such_mutant"])),
                 "--platform-run-id", "platform_x"]) == 2
    assert "unknown mutants ['no_such_mutant']" in capsys.readouterr().err
    assert main(["start", "--config", str(_config(tmp_path))]) == 2
    assert "no run id" in capsys.readouterr().err


def test_each_process_gets_the_mutants_it_understands_and_its_crash_knob(tmp_path: Path) -> None:
    path = _config(tmp_path, platform_run_id="platform_file",
                   mutations=["ack_before_write", "lane_ack_before_write", "restart_forgets_admissions"],
                   crash={"rtdl": {"point": "rtdl.before_state_write", "at_hit": 2}})
    settings = load_settings(path, "platform_cli")
    assert settings.platform_run_id == "platform_cli"  # the command line's run id wins over the file's
    assert settings.mutations_for("ig") == ["ack_before_write", "restart_forgets_admissions"]
    assert settings.mutations_for("decision_lane") == ["ack_before_write", "lane_ack_before_write"]
    assert settings.mutations_for(None) == ["ack_before_write"]  # the run's phases: reference mutants only
    rtdl = settings.service_config("rtdl")
    assert rtdl["crash"]["announce_path"].endswith("services/rtdl.crashed.json")
    assert "crash" not in settings.service_config("ig")
    assert rtdl["platform_run_id"] == "platform_cli" and rtdl["ready_path"].endswith("rtdl.ready.json")
