"""What every component of the platform is built with: config, adapters, evidence sink, recorder, clock,
fault points. It also holds the two disciplines every component shares: handle look-ups are recorded
(INV-HANDLES) and the run scope is checked, failing closed (INV-RUN-SCOPE)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reference_impl.canonical import utc_iso
from reference_impl.errors import ScopeMismatch
from reference_impl.faultpoints import FaultPoints
from reference_impl.handles import DEFAULT_HANDLES, HandlesRegistry, TopicHandle
from reference_impl.ports import Bus, ObjectStore


class Clock(Protocol):
    def now(self) -> float: ...


class EvidenceSink(Protocol):
    """Write-once run evidence (the harness's bundle writer implements it)."""

    def put(self, relpath: str, document: Mapping[str, Any]) -> None: ...

    def get(self, relpath: str) -> Mapping[str, Any] | None: ...

    def list(self) -> list[str]: ...


class Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


class StillClock:
    """A clock that only moves when slept on (the default of stand-alone platforms: deterministic)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)


class NullRecorder:
    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        return None


class DictEvidence:
    """A dict-backed, write-once evidence sink for tests and stand-alone use."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def put(self, relpath: str, document: Mapping[str, Any]) -> None:
        if relpath in self.documents:
            raise FileExistsError(f"evidence {relpath!r} already written (write-once)")
        self.documents[relpath] = dict(document)

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        return self.documents.get(relpath)

    def list(self) -> list[str]:
        return sorted(self.documents)


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    platform_run_id: str
    seed: int = 0
    env: str = "reference"
    # What the daemons' environment says (REQUIRED_PLATFORM_RUN_ID); None = unset. Defaults to the run id.
    required_platform_run_id: str | None = ""
    traffic_events: int = 200
    replayed_slice: int = 5
    mutations: frozenset[str] = frozenset()
    api_key: str = field(default="", repr=False)
    image_tag: str = "local"
    image_digest: str = ""
    git_sha: str | None = None
    code_version: str = "reference_impl"
    handles: HandlesRegistry = DEFAULT_HANDLES

    def __post_init__(self) -> None:
        from reference_impl.mutants import resolve

        if not isinstance(self.platform_run_id, str) or not self.platform_run_id.strip():
            raise ValueError(f"PlatformConfig.platform_run_id must be a non-empty string, given: "
                             f"{self.platform_run_id!r}")
        if not isinstance(self.traffic_events, int) or self.traffic_events < 4:
            raise ValueError(f"PlatformConfig.traffic_events must be an integer >= 4 (the world needs a few flows "
                             f"with and without context), given: {self.traffic_events!r}")
        if not isinstance(self.replayed_slice, int) or not 0 <= self.replayed_slice <= self.traffic_events:
            raise ValueError(f"PlatformConfig.replayed_slice must be between 0 and traffic_events "
                             f"({self.traffic_events}), given: {self.replayed_slice!r}")
        resolve(self.mutations)  # an unknown mutant name fails here, naming the known ones

    @property
    def required_run_id(self) -> str | None:
        return self.platform_run_id if self.required_platform_run_id == "" else self.required_platform_run_id

    def knobs(self) -> dict[str, Any]:
        return {"seed": self.seed, "traffic_events": self.traffic_events,
                "replayed_slice": self.replayed_slice, **dict(self.handles.knobs)}


class Runtime:
    def __init__(self, config: PlatformConfig, *, bus: Bus, store: ObjectStore, evidence: EvidenceSink,
                 recorder: Recorder, clock: Clock, faults: FaultPoints) -> None:
        self.config = config
        self.bus = bus
        self.store = store
        self.evidence = evidence
        self.recorder = recorder
        self.clock = clock
        self.faults = faults
        self.handles = config.handles

    @property
    def run_id(self) -> str:
        return self.config.platform_run_id

    def mutated(self, name: str) -> bool:
        return name in self.config.mutations

    def now_iso(self) -> str:
        return utc_iso(self.clock.now())

    def sleep(self, seconds: float) -> None:
        # Backoff sleeps go through the injected clock (a manual clock advances instantly).
        sleeper = getattr(self.clock, "sleep", None)
        if callable(sleeper):
            sleeper(seconds)

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self.recorder.record(process, type, f, **value)

    def topic(self, key: str, process: str) -> TopicHandle:
        handle = self.handles.topic(key)
        self.record(process, "ok", "handle_use", kind="topic", name=handle.name, key=key)
        return handle

    def topic_for_class(self, event_class: str, process: str) -> TopicHandle:
        handle = self.handles.topic_for_class(event_class)
        self.record(process, "ok", "handle_use", kind="topic", name=handle.name, key=handle.key)
        return handle

    def bucket(self, key: str, process: str) -> str:
        name = self.handles.bucket(key)
        self.record(process, "ok", "handle_use", kind="bucket", name=name, key=key)
        return name

    def prefix(self, key: str, process: str, **params: str) -> str:
        params.setdefault("platform_run_id", self.run_id)
        value = self.handles.prefix(key, **params)
        # The registry holds patterns: record the pattern (what INV-HANDLES looks up) and its expansion.
        self.record(process, "ok", "handle_use", kind="prefix", name=self.handles.prefixes[key], key=key,
                    value=value)
        return value

    def group(self, key: str, process: str) -> str:
        name = self.handles.group(key)
        self.record(process, "ok", "handle_use", kind="consumer_group", name=name, key=key)
        return name

    def check_scope(self, component: str, required: str | None) -> None:
        """Fail closed unless the daemon's REQUIRED_PLATFORM_RUN_ID is this run's id."""
        observed = self.run_id
        ok = required is not None and required == observed
        if not ok and self.mutated("scope_not_enforced"):
            self.record(component, "ok", "scope_check", component=component, required=required,
                        observed=observed)
            return
        self.record(component, "ok" if ok else "fail", "scope_check", component=component, required=required,
                    observed=observed)
        if not ok:
            raise ScopeMismatch(component, required, observed)

    def event(self, process: str, name: str, category: str, **payload: Any) -> None:
        self.record(process, "ok", "event", name=name, category=category, version="1",
                    platform_run_id=self.run_id, scenario_run_id=payload.pop("scenario_run_id", None),
                    trace_id=payload.pop("trace_id", None), payload=payload)
