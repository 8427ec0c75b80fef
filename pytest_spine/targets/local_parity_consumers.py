"""The consumers of a local_parity scenario as real processes (``reference_impl/services/``): the RTDL core and
the decision lane in their consumer groups over the stack's Kafka, durable state in the S3 archive.

A ``process_kill`` fault (``pytest_spine.faults.process_kill``) switches a scenario's driver to these. Each
``consume()`` starts the processes that are not running (with a pause knob at the fault's point while kills
remain), waits until every group has committed every record, or until a process announces it stopped at
its pause point: then it is SIGKILLed there and ``consume()`` raises :class:`ConsumerCrash`, as the
in-process consumer dies at a fault point. ``restart()`` starts what was killed. Between calls nothing runs
(the processes are stopped with SIGTERM once caught up), so their history lines (one JSONL file per kind
of process, appended by every restart) are complete when they are merged into the scenario's History,
where the invariants read them beside the ingest operations. ``close()`` stops every process this
manager started, whatever happened; ``still_running()`` says if any survived.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import HandlesRegistry
from pytest_spine.history import History
from pytest_spine.scenarios.reference_driver import ConsumerCrash, ReferenceDriver
from pytest_spine.stack.consumers import ConsumerHandle, start_consumer
from pytest_spine.stack.processes import is_running, log_tail, sigkill, stop
from pytest_spine.stack.state import StackState

# Consumer kind -> (its consumer group's registry key, the registry keys of the topics it consumes).
GROUPS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "rtdl": ("RTDL_CORE_CONSUMER_GROUP_ID", ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                                             "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")),
    "decision_lane": ("DECISION_LANE_CONSUMER_GROUP_ID", ("FP_BUS_RTDL_V1",)),
}
ORDER = ("rtdl", "decision_lane")  # upstream first: the lane is caught up only once RTDL is
CATCH_UP_TIMEOUT_S = 120.0
POLL_S = 0.2
NEMESIS = "nemesis"
KEEP_PROCESS_RUNS = 5  # like pytest's basetemp: the last few runs' process logs stay for a post-mortem


def prune_process_runs(root: Path, keep: int = KEEP_PROCESS_RUNS) -> list[Path]:
    """Remove all but the newest ``keep`` run folders under ``root`` (the processes' configs, logs and history
    files; what the checks need is already merged into the scenario's History and evidence). Returns what went."""
    try:
        runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    except FileNotFoundError:
        return []
    removed = []
    for run in runs[keep:]:
        shutil.rmtree(run, ignore_errors=True)  # a folder a parallel worker is still using is newer than these
        removed.append(run)
    return removed


@dataclass(slots=True)
class KillPlan:
    """An armed ``process_kill``: the next ``remaining`` processes of ``process`` die at ``point``."""

    process: str
    point: str
    at_hit: int
    match: Mapping[str, Any]
    remaining: int
    done: int = 0

    def pause(self) -> dict[str, Any]:
        return {"point": self.point, "match": dict(self.match), "at_hit": self.at_hit}


@dataclass(slots=True)
class ConsumerProcesses:
    state: StackState
    registry: HandlesRegistry
    platform_run_id: str
    history: History
    truth_bus: Any  # KafkaBus over the direct endpoint: commits and end offsets
    truth_store: Any  # S3ObjectStore over the direct endpoint: the archive
    base_dir: Path
    mutations: tuple[str, ...] = ()
    seed: int = 0
    services: tuple[str, ...] = ORDER
    running: dict[str, ConsumerHandle] = field(default_factory=dict)
    started: list[ConsumerHandle] = field(default_factory=list)
    kills: dict[str, KillPlan] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)  # kinds killed and not yet restarted
    _merged: dict[str, int] = field(default_factory=dict)  # history file -> bytes already merged
    _starts: Counter[str] = field(default_factory=Counter)

    # -- faults -----------------------------------------------------------------------------------
    def arm(self, process: str, point: str, *, at_hit: int, times: int, match: Mapping[str, Any]) -> None:
        if process not in self.services:
            raise EnvironmentFault(f"process_kill names {process!r}, but this scenario runs the consumer "
                                   f"processes {', '.join(self.services)}")
        self.kills[process] = KillPlan(process, point, at_hit, dict(match), times)
        self.history.record(NEMESIS, "ok", "process_kill_armed", service=process, point=point, at_hit=at_hit,
                            times=times, match=dict(match))

    def disarm(self, process: str) -> None:
        """Drop the kills not yet done and stop a process of that kind still running (maybe paused at the point);
        recorded. The next ``consume()`` starts a clean one."""
        plan = self.kills.pop(process, None)
        handle = self.running.pop(process, None)
        stopped = None
        if handle is not None:
            stopped = handle.process.pid if stop(handle.process, grace_s=5.0) else None
        self.history.record(NEMESIS, "ok", "process_kill_disarmed", service=process,
                            kills_done=plan.done if plan else 0, kills_left=plan.remaining if plan else 0,
                            stopped_pid=stopped)
        self.merge()

    def armed(self) -> list[str]:
        """Kills still armed and processes still running: what a rollback must leave empty."""
        return ([f"process_kill:{p}" for p, plan in self.kills.items() if plan.remaining > 0]
                + [f"process:{name} pid {h.process.pid}" for name, h in self.running.items()
                   if is_running(h.process)])

    # -- processes --------------------------------------------------------------------------------
    def _start(self, service: str) -> ConsumerHandle:
        plan = self.kills.get(service)
        self._starts[service] += 1
        label = f"{self._starts[service]}"
        pause = plan.pause() if plan is not None and plan.remaining > 0 else None
        handle = start_consumer(service, self.state, self.registry, platform_run_id=self.platform_run_id,
                                base_dir=self.base_dir, mutations=self.mutations, pause=pause, seed=self.seed,
                                label=label)
        self.running[service] = handle
        self.started.append(handle)
        self.history.record(NEMESIS, "ok", "process_start", service=service, pid=handle.process.pid,
                            paused_at=pause["point"] if pause else None)
        return handle

    def restart(self) -> None:
        """Start again what was killed (the orchestrator's restart): it resumes from its group's commits."""
        for service in [s for s in self.services if s in self.killed]:
            self._start(service)
        self.killed.clear()

    def consume(self) -> int:
        """Run the consumers until every group committed every record; returns the records they consumed.
        Raises ConsumerCrash after a SIGKILL at a pause point."""
        for service in self.services:
            if service not in self.running:
                self._start(service)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while True:
            self._kill_paused()
            self._check_alive()
            if self._caught_up():
                self._kill_paused()  # a pause announced while the last commit landed still counts
                break
            if time.monotonic() > deadline:
                self.stop_all()
                raise EnvironmentFault(f"the consumer processes did not catch up within {CATCH_UP_TIMEOUT_S:.0f}s "
                                       f"(logs in {self.base_dir})")
            time.sleep(POLL_S)
        self.stop_all()
        return self.merge()

    def _kill_paused(self) -> None:
        for service, handle in list(self.running.items()):
            if handle.pause_path is None or not Path(handle.pause_path).exists():
                continue
            announced = json.loads(Path(handle.pause_path).read_text())
            code = sigkill(handle.process)
            del self.running[service]
            plan = self.kills[service]
            plan.remaining -= 1
            plan.done += 1
            self.killed.append(service)
            context = dict(announced.get("context") or {})
            self.history.record(NEMESIS, "ok" if code == -9 else "info", "process_kill", service=service,
                                pid=handle.process.pid, signal="SIGKILL", returncode=code, point=plan.point,
                                hit=announced.get("hit"), context=context)
            self.stop_all()  # the others stop cleanly: their lines are merged before the crash is reported
            self.merge()
            raise ConsumerCrash(f"{service} process (pid {handle.process.pid}) SIGKILLed at {plan.point} "
                                f"(hit {announced.get('hit')}, {context.get('topic')}[{context.get('partition')}] "
                                f"offset {context.get('offset')}); exit status {code}")

    def _check_alive(self) -> None:
        for service, handle in list(self.running.items()):
            if not is_running(handle.process):
                del self.running[service]
                self.history.record(NEMESIS, "info", "process_exit", service=service, pid=handle.process.pid)
                self.stop_all()
                self.merge()
                raise EnvironmentFault(f"the {service} process (pid {handle.process.pid}) died on its own; log "
                                       f"{handle.process.log_path} ends:\n{log_tail(handle.process.log_path)}")

    def _caught_up(self) -> bool:
        for service in self.services:  # in ORDER: the lane's end offsets are read after RTDL committed
            group_key, topic_keys = GROUPS[service]
            group = self.registry.resolve(group_key)
            for topic in (self.registry.topic(key).name for key in topic_keys):
                committed = self.truth_bus.committed(group, topic)
                if any(committed.get(p, 0) < end for p, end in self.truth_bus.end_offsets(topic).items()):
                    return False
        return True

    def stop_all(self) -> None:
        for service in list(self.running):
            stop(self.running.pop(service).process, grace_s=5.0)

    def close(self) -> list[str]:
        """Stop every process started here (also after a failure) and merge what they recorded; returns
        those still alive afterwards (none, or the teardown failed)."""
        try:
            self.stop_all()
            for handle in self.started:
                stop(handle.process, grace_s=2.0)
        finally:
            self.merge()
        return self.still_running()

    def still_running(self) -> list[str]:
        return [f"{h.service} pid {h.process.pid}" for h in self.started if is_running(h.process)]

    # -- observation ------------------------------------------------------------------------------
    def merge(self) -> int:
        """Record the complete lines the processes appended since the last merge; returns their consumes."""
        consumed = 0
        for path in sorted({h.history_path for h in self.started}, key=self._rank):
            consumed += sum(1 for row in self._new_lines(Path(path)) if self._record(row))
        return consumed

    def _rank(self, path: str) -> int:
        name = Path(path).name
        return next((i for i, s in enumerate(self.services) if name.startswith(f"{s}.")), len(self.services))

    def _new_lines(self, path: Path) -> Iterable[dict[str, Any]]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        start = self._merged.get(str(path), 0)
        end = data.rfind(b"\n", start) + 1  # only whole lines: a line being written is read next time
        if end <= start:
            return []
        self._merged[str(path)] = end
        rows = []
        for line in data[start:end].decode(errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut by the SIGKILL
        return rows

    def _record(self, row: Mapping[str, Any]) -> bool:
        value = {k: v for k, v in dict(row.get("value") or {}).items() if k not in ("process", "type", "f")}
        self.history.record(str(row["process"]), str(row["type"]), str(row["f"]), **value)
        return bool(row["f"] == "consume" and row["type"] == "ok")

    def decision_inputs(self) -> frozenset[str]:
        """Event ids of the decision inputs RTDL made durable in the run's archive, read over the direct store."""
        bucket = self.registry.bucket("S3_ARCHIVE_BUCKET")
        prefix = self.registry.prefix("S3_ARCHIVE_PREFIX_PATTERN",
                                      platform_run_id=self.platform_run_id) + "rtdl_core/decision_input/"
        return frozenset(urllib.parse.unquote(key[len(prefix):]).removesuffix(".json")
                         for key in self.truth_store.list(bucket, prefix))

    def max_executions_per_action(self) -> int:
        executions = Counter(op.value.get("action_key") for op in self.history.operations()
                             if op.f == "action_execute" and op.type == "ok")
        return max(executions.values(), default=0)


class LocalParityDriver(ReferenceDriver):
    """The local_parity chaos driver: the reference driver's platform over the real stack, whose consumers
    become real processes once a ``process_kill`` fault is armed (before they first consume)."""

    name = "local_parity"
    capabilities = ReferenceDriver.capabilities | {"process_faults"}

    def __init__(self, platform: Any, history: History, clock: Any, evidence: Any) -> None:
        super().__init__(platform, history, clock, evidence)
        self.processes: ConsumerProcesses | None = None
        # Set by the factory: how to start the consumer processes of this run.
        self.process_setup: Mapping[str, Any] = {}

    def arm_process_kill(self, process: str, point: str, *, at_hit: int, times: int,
                         match: Mapping[str, Any]) -> None:
        if self.processes is None:
            if self.platform.rtdl.stats.processed or self.platform.lane.stats.consumed:
                raise EnvironmentFault(f"process_kill on {process}: the in-process consumers already consumed this "
                                       "run; schedule the fault before the workload first consumes")
            if not self.process_setup:
                raise EnvironmentFault("this local_parity driver was built without a stack to start consumer "
                                       "processes on")
            self.processes = ConsumerProcesses(history=self.history, platform_run_id=self.platform_run_id,
                                               **self.process_setup)
        self.processes.arm(process, point, at_hit=at_hit, times=times, match=match)

    def disarm_process_kill(self, process: str) -> None:
        if self.processes is not None:
            self.processes.disarm(process)

    def consume(self) -> int:
        return self.processes.consume() if self.processes is not None else super().consume()

    def restart_consumer(self) -> None:
        if self.processes is None:
            super().restart_consumer()
        else:
            self.processes.restart()

    def downstream(self) -> Mapping[str, Any]:
        if self.processes is None:
            return super().downstream()
        return {"decision_inputs": self.processes.decision_inputs(),
                "max_executions_per_action": self.processes.max_executions_per_action()}

    def armed(self) -> list[str]:
        return [*super().armed(), *(self.processes.armed() if self.processes is not None else [])]

    def close(self) -> None:
        try:
            if self.processes is not None:
                left = self.processes.close()
                if left:
                    raise EnvironmentFault(f"consumer processes survived the scenario's teardown: {left}")
        finally:
            super().close()
