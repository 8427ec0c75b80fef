"""The chaos driver of the reference target: a fresh in-process platform per scenario instance.

This module is a target adapter (like ``pytest_spine/targets/reference.py`` and the mutant adapters): it
is the one place in the scenario machinery that imports ``reference_impl``, lazily. Each scenario gets
its own platform (own bus, store, evidence and history) brought up to P2, so a flood of 100,000 replays
never pollutes the session's phase run, and a mutant selected with ``--spine-mutant`` is built in.
Faults are injected by arming the platform's named fault points (store and bus adapters, components),
never by patching the checks.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from pytest_spine.clock import Clock, ManualClock
from pytest_spine.errors import TargetUnavailable
from pytest_spine.history import History
from pytest_spine.invariants.registry import EvidenceReader
from pytest_spine.targets.base import PhaseOutcome

BRING_UP = ("P(-1)", "P0", "P1", "P2")
TRAFFIC = "traffic"
_READERS = itertools.count(1)


class ConsumerCrash(Exception):
    """The injected death of a consumer process at a fault point."""


class MemoryEvidence:
    """The scenario platform's own write-once evidence (kept apart from the session's bundle)."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, relpath: str, document: Mapping[str, Any]) -> None:
        with self._lock:
            if relpath in self.documents:
                raise FileExistsError(f"scenario evidence {relpath!r} already written (write-once)")
            self.documents[relpath] = dict(document)

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        return self.documents.get(relpath)

    def list(self) -> list[str]:
        return sorted(self.documents)


class ReferenceDriver:
    name = "reference"
    capabilities = frozenset({"ingest", "consume", "restart_consumer", "decide", "close_run", "fault_points",
                              "gates", "read_topic", "object_evidence"})
    # Targets over real services set these: the Toxiproxy client and link -> proxy (network_faults), and the
    # direct (unproxied) bus and store the truth is read from, so a fault never blinds the checks.
    toxiproxy: Any = None
    links: Mapping[str, str] = {}
    truth_bus: Any = None
    truth_store: Any = None

    def __init__(self, platform: Any, history: History, clock: Clock, evidence: MemoryEvidence) -> None:
        self.platform = platform
        self.history = history
        self.clock = clock
        self._evidence = evidence
        self.security_mutant: str | None = None
        self._objects: Any = None
        self.platform_run_id: str = platform.rt.run_id
        self._headers = platform.auth_headers()
        handles = platform.config.handles
        from reference_impl.handles import CONTEXT_OUTPUTS, TRAFFIC_OUTPUT

        self._classes = {TRAFFIC: handles.output_event_classes[TRAFFIC_OUTPUT]}
        for number, output in enumerate(CONTEXT_OUTPUTS):
            self._classes[f"context:{number}"] = handles.output_event_classes[output]

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def standalone(cls, platform_run_id: str, seed: int, mutant: str | None = None,
                   clock: Clock | None = None, history: History | None = None) -> ReferenceDriver:
        """A fresh platform brought up to P2; raises TargetUnavailable naming the phase that failed."""
        from reference_impl.canonical import derive_id
        from reference_impl.faultpoints import FaultPoints
        from reference_impl.memory_bus import InMemoryBus
        from reference_impl.memory_store import InMemoryObjectStore
        from reference_impl.mutants import MUTANTS, resolve
        from reference_impl.platform import SpinePlatform
        from reference_impl.runtime import PlatformConfig

        clock = clock or ManualClock()
        history = history if history is not None else History(clock)
        faults = FaultPoints()
        evidence = MemoryEvidence()
        # Mutants of other families (control plane, security) leave the spine platform intact.
        spine_mutant = mutant if mutant in MUTANTS else None
        config = PlatformConfig(platform_run_id=platform_run_id, seed=seed,
                                mutations=resolve(frozenset({spine_mutant}) if spine_mutant else frozenset()),
                                api_key=f"scenario-key-{derive_id('ig', platform_run_id, length=12)}")
        platform = SpinePlatform(config, bus=InMemoryBus(faults), store=InMemoryObjectStore(faults),
                                 evidence=evidence, recorder=history, clock=clock, faults=faults)
        for phase in BRING_UP:
            report = platform.run_phase(phase)
            if not report.completed:
                raise TargetUnavailable(f"the scenario's reference platform did not come up: phase {phase} "
                                        f"failed: {report.error}")
        if platform.ig is None or platform.rtdl is None or platform.lane is None:
            raise TargetUnavailable("the scenario's reference platform did not come up: IG, RTDL or the "
                                    "decision lane is not running after P2")
        driver = cls(platform, history, clock, evidence)
        from reference_impl.security import SECURITY_MUTANTS

        # Security scenarios build their own gate; it honours a security mutant named here.
        driver.security_mutant = mutant if mutant in SECURITY_MUTANTS else None
        return driver

    # -- events -------------------------------------------------------------------------------------
    def envelope(self, event_id: str, *, platform_run_id: str | None = None, event_class: str = TRAFFIC,
                 flow_id: str | None = None, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # Derived from the event id alone: sending the same event twice is a replay, not a payload change.
        body = dict(payload) if payload is not None else {
            "flow_id": flow_id or event_id, "amount_minor": 1000 + zlib.crc32(event_id.encode()) % 5000,
            "row_id": event_id}
        body.setdefault("flow_id", flow_id or event_id)
        return {"platform_run_id": platform_run_id or self.platform_run_id, "scenario_run_id": None,
                "event_class": self._classes.get(event_class, event_class), "event_id": event_id,
                "ts_utc": self.platform.rt.now_iso(), "payload": body}

    def ingest(self, envelope: Mapping[str, Any], process: str = "client-1") -> str | None:
        try:
            response = self.platform.ingest(self._headers, envelope, process)
        except Exception as error:  # the request left; what happened is unknown
            self.history.record(process, "info", "ingest", error=f"{type(error).__name__}: {error}")
            return None
        outcome = response.outcome if 200 <= response.status_code < 300 else None
        return None if outcome is None else str(outcome)

    # -- consumers ----------------------------------------------------------------------------------
    def consume(self) -> int:
        processed = int(self.platform.rtdl.process_available())
        processed += int(self.platform.lane.process_available())
        return processed

    def restart_consumer(self) -> None:
        self.platform.rtdl.restart()
        reset = getattr(self.platform.bus, "reset_positions", None)
        if callable(reset):
            reset(self.platform.lane.group)

    def downstream(self) -> Mapping[str, Any]:
        """What the consumers made durable: decision inputs by event id, and executions per action key."""
        lane = self.platform.lane
        return {"decision_inputs": frozenset(self.platform.rtdl.state.decision_inputs),
                "max_executions_per_action": max(lane.stats.executions.values(), default=0)}

    def close_run(self, holders: int) -> Mapping[str, Any]:
        from reference_impl.errors import ReporterLockHeld
        from reference_impl.reporter import Reporter

        barrier = threading.Barrier(holders)
        written: list[str] = []
        refused: list[str] = []
        errors: list[str] = []
        guard = threading.Lock()

        def documents() -> list[tuple[str, dict[str, Any]]]:
            return [("scenario_closure/run_report.json", {"status": "closed"}),
                    ("scenario_closure/run_completed.json", {"completed": True})]

        def close(holder: str) -> None:
            reporter = Reporter(self.platform.rt, holder=holder)
            barrier.wait(timeout=10)
            try:
                reporter.close(documents)
            except ReporterLockHeld:
                with guard:
                    refused.append(holder)
                return
            except Exception as error:
                with guard:
                    errors.append(f"{holder}: {type(error).__name__}: {error}")
                return
            with guard:
                written.append(holder)

        threads = [threading.Thread(target=close, args=(f"reporter-{n + 1}",), name=f"reporter-{n + 1}")
                   for n in range(holders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return {"written": sorted(written), "refused": sorted(refused), "errors": sorted(errors)}

    # -- faults -------------------------------------------------------------------------------------
    def fault_errors(self) -> frozenset[str]:
        return frozenset(self._errors())

    def _errors(self) -> dict[str, type[BaseException]]:
        from reference_impl.ports import PublishTimeout
        from reference_impl.rtdl import StateWriteError

        return {"publish_timeout": PublishTimeout, "timeout": TimeoutError, "connection_error": ConnectionError,
                "crash": ConsumerCrash, "state_write_error": StateWriteError, "access_denied": PermissionError}

    def arm(self, point: str, *, error: str | None = None, delay_s: float | None = None, times: int | None = None,
            match: Mapping[str, Any] | None = None) -> None:
        action: Any
        if error is not None:
            errors = self._errors()
            if error not in errors:
                raise TargetUnavailable(f"the reference driver cannot raise {error!r}; it knows "
                                        f"{', '.join(sorted(errors))}")
            action = errors[error](f"fault injected at {point}: {error}")
        else:
            seconds = float(delay_s or 0.0)

            def delay(context: Mapping[str, Any]) -> None:
                self.clock.sleep(seconds)

            action = delay
        when: Callable[[Mapping[str, Any]], bool] | None = None
        if match:
            wanted = dict(match)

            def when(context: Mapping[str, Any]) -> bool:
                return all(context.get(key) == value for key, value in wanted.items())

        self.platform.faults.arm(point, action, times=times, when=when)

    def disarm(self, point: str) -> None:
        self.platform.faults.disarm(point)

    def armed(self) -> list[str]:
        """Armed fault points, and toxics still on this driver's proxies (a rollback that did not happen)."""
        armed = list(self.platform.faults.armed())
        if self.toxiproxy is not None:
            for proxy in sorted(set(self.links.values())):
                armed.extend(f"toxic:{proxy}/{toxic.name}" for toxic in self.toxiproxy.toxics(proxy))
        return armed

    # -- substrate truth and evidence objects ------------------------------------------------------
    def published_event_ids(self, event_class: str = TRAFFIC) -> frozenset[str]:
        """Event ids of this run on the topic of ``event_class``, read over the direct bus from the start."""
        handles = self.platform.config.handles
        topic = handles.topic_for_class(self._classes.get(event_class, event_class)).name
        bus = self.truth_bus if self.truth_bus is not None else self.platform.bus
        reader = f"spine-truth-{self.platform_run_id}-{next(_READERS)}"
        found: set[str] = set()
        while True:
            records = bus.poll(reader, topic, max_records=10_000)
            if not records:
                return frozenset(found)
            found.update(str(r.value.get("event_id")) for r in records
                         if r.value.get("platform_run_id") == self.platform_run_id)

    def _evidence_writer(self) -> Any:
        if self._objects is None:
            from reference_impl.evidence_objects import EvidenceObjects

            self._objects = EvidenceObjects(self.platform.rt)
        return self._objects

    def write_evidence(self, relpath: str, document: Mapping[str, Any]) -> bool:
        """Write one evidence object through the platform's writer: True when it reports the write done."""
        from reference_impl.evidence_objects import EvidenceWriteFailed

        try:
            self._evidence_writer().put(relpath, document)
        except EvidenceWriteFailed:
            return False
        return True

    def evidence_key(self, relpath: str) -> str:
        return str(self._evidence_writer().key(relpath))

    def evidence_status(self) -> Mapping[str, Any]:
        """What the platform reports about its evidence objects (PASS only with none left failed)."""
        return dict(self._evidence_writer().status())

    def evidence_objects(self) -> Mapping[str, bytes]:
        """Every object under the run's evidence root, read over the direct store: key -> body."""
        writer = self._evidence_writer()
        store = self.truth_store if self.truth_store is not None else self.platform.store
        return {key: bytes(store.get(writer.bucket, key)) for key in store.list(writer.bucket, writer.root)}

    # -- observation --------------------------------------------------------------------------------
    def gate(self, criterion_id: str) -> tuple[str, str]:
        from pytest_spine.gates.catalogue import CRITERIA, EvidenceMissing, GateContext, ProbeUnavailable, _load

        _load()
        criterion = CRITERIA.get(criterion_id)
        if criterion is None:
            return "UNKNOWN", f"no gate criterion {criterion_id!r} is defined"
        documents = {"ingest/receipt_summary.json": self.platform.receipt_summary()}
        phase = criterion.phase

        def probe(name: str) -> Mapping[str, Any]:
            raise ProbeUnavailable(f"probes are not run inside scenario {criterion_id}")

        ctx = GateContext(phase=PhaseOutcome(phase, True), outcomes={}, read=documents.get,
                          files=lambda: sorted(documents), probe_fn=probe, platform_run_id=self.platform_run_id,
                          history=self.history.operations)
        try:
            result = criterion.check(ctx)
        except (EvidenceMissing, ProbeUnavailable) as missing:
            return "UNKNOWN", f"{criterion_id} cannot be evaluated on a scenario run: {missing}"
        return ("PASS" if result.ok else "FAIL"), str(result.reason)

    def evidence(self) -> EvidenceReader:
        return self._evidence

    def close(self) -> None:
        self.platform.faults.disarm()
