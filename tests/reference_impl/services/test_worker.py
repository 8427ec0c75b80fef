"""The consumer services' shared parts without a stack: write-once archive objects, the archive-backed RTDL
state (idempotent re-write, rebuilt after a restart), the pause knob's validation and the config errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reference_impl.faultpoints import FaultPoints
from reference_impl.memory_bus import InMemoryBus
from reference_impl.memory_store import InMemoryObjectStore
from reference_impl.runtime import DictEvidence, NullRecorder, PlatformConfig, Runtime, StillClock
from reference_impl.services import decision_lane_service, reporter_service, rtdl_service
from reference_impl.services.rtdl_service import ArchiveStateStore
from reference_impl.services.worker import ConfigError, arm_pause, object_key, put_once


class ListRecorder:
    def __init__(self) -> None:
        self.ops: list[tuple[str, str, dict[str, object]]] = []

    def record(self, process: str, type: str, f: str, **value: object) -> None:
        self.ops.append((type, f, value))


def runtime(store: InMemoryObjectStore, recorder: object | None = None) -> Runtime:
    faults = FaultPoints()
    store.create_bucket("fraud-platform-dev-min-archive")
    return Runtime(PlatformConfig("run-1"), bus=InMemoryBus(faults), store=store, evidence=DictEvidence(),
                   recorder=recorder or NullRecorder(), clock=StillClock(), faults=faults)  # type: ignore[arg-type]


def test_put_once_writes_then_returns_what_is_stored() -> None:
    store = InMemoryObjectStore()
    store.create_bucket("b")
    assert put_once(store, "b", "k.json", {"a": 1}) == (True, {"a": 1})
    assert put_once(store, "b", "k.json", {"a": 2}) == (False, {"a": 1})  # never overwritten
    assert json.loads(store.get("b", "k.json")) == {"a": 1}


def test_object_keys_cannot_leave_their_folder() -> None:
    key = object_key("archive/run-1/", "decision_input", "../x/y.json")
    assert key == "archive/run-1/decision_input/..%2Fx%2Fy.json"


def test_archive_state_rewrites_idempotently_and_survives_a_restart() -> None:
    store = InMemoryObjectStore()
    recorder = ListRecorder()
    state = ArchiveStateStore(runtime(store, recorder))
    origin = ("fp.bus.traffic.fraud.v1", 1, 7)
    state.write("decision_input", "e1", {"degraded": False}, origin)
    state.write("decision_input", "e1", {"degraded": False}, origin)  # the redelivery
    state.write("decision_input", "e1", {"degraded": True}, origin)  # a redelivery that computed otherwise
    puts = [(t, v["written"], v["same"]) for t, f, v in recorder.ops if f == "archive_put"]
    assert puts == [("ok", True, True), ("ok", False, True), ("fail", False, False)]
    assert state.decision_inputs == {"e1": {"degraded": False}}  # the stored first write stays the truth
    reborn = ArchiveStateStore(runtime(store))
    assert reborn.load() == 1
    assert (reborn.decision_inputs, reborn.durable_upto) == ({"e1": {"degraded": False}},
                                                             {("fp.bus.traffic.fraud.v1", 1): 8})


def test_pause_knob_refuses_an_unknown_point_and_a_bad_hit() -> None:
    rt = runtime(InMemoryObjectStore())
    with pytest.raises(ConfigError, match=re.escape("pause.point 'rtdl.nowhere' is not a fault point")):
        arm_pause(rt, {"point": "rtdl.nowhere"}, "rtdl_service")
    with pytest.raises(ConfigError, match=re.escape("pause.at_hit must be >= 1, given: 0")):
        arm_pause(rt, {"point": "rtdl.before_commit", "at_hit": 0}, "rtdl_service")
    arm_pause(rt, None, "rtdl_service")
    assert rt.faults.armed() == []


@pytest.mark.parametrize("main", [rtdl_service.main, decision_lane_service.main, reporter_service.main])
def test_services_name_a_bad_config_and_exit_2(main: object, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.json"
    assert main(["--config", str(missing)]) == 2  # type: ignore[operator]
    assert f"cannot read the config {missing}" in capsys.readouterr().err
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"platform_run_id": "run-1"}))
    assert main(["--config", str(partial)]) == 2  # type: ignore[operator]
    assert f"the config {partial} lacks ['kafka_bootstrap', 'history_path']; add them" in capsys.readouterr().err
