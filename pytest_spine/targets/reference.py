"""The ``reference`` target: the bundled reference platform (``reference_impl``) run in-process over an
in-memory bus and object store. The only module of the harness (with mutant adapters) that imports
``reference_impl``.

Chaos engines reach inside through ``platform``, ``bus``, ``store`` and ``faults`` (named fault points:
``faults.arm(point, action, times=N)`` / ``faults.disarm()``).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_spine.clock import Clock, SystemClock
from pytest_spine.errors import ConfigError
from pytest_spine.targets.base import (
    PHASE_IDS,
    EvidenceSink,
    PhaseOutcome,
    ProbeNotSupported,
    Recorder,
    RunSpec,
)
from reference_impl.errors import DrillUnavailable, UnknownDrill
from reference_impl.faultpoints import KNOWN_POINTS, FaultPoints
from reference_impl.memory_bus import InMemoryBus
from reference_impl.memory_store import InMemoryObjectStore
from reference_impl.mutants import MUTANTS
from reference_impl.platform import SpinePlatform, secret_fingerprint, source_digest
from reference_impl.runtime import PlatformConfig

DEFAULT_TRAFFIC_EVENTS = 200
MIN_TRAFFIC_EVENTS = 20


def _family_mutants() -> frozenset[str]:
    """Mutants of the other reference families (security layer, control plane): the plugin validates
    ``--spine-mutant`` against the union; the spine platform ignores names that are not its own."""
    names: set[str] = set()
    try:
        from reference_impl.security.config import SECURITY_MUTANTS

        names |= set(SECURITY_MUTANTS)
    except ImportError:  # pragma: no cover - a build without the security layer
        pass
    try:
        from reference_impl.control_plane.mutants import CP_MUTANTS

        names |= set(CP_MUTANTS)
    except ImportError:  # pragma: no cover - a build without the control plane
        pass
    return frozenset(names)


SPINE_MUTANT_NAMES: frozenset[str] = frozenset(MUTANTS)
MUTANT_NAMES: frozenset[str] = SPINE_MUTANT_NAMES | _family_mutants()

NOT_APPLICABLE: Mapping[str, str] = {
    "P(-1)-image_in_registry": "no container registry in-process; the local translation is "
                               "P(-1)-entrypoints_importable",
    "P(-1)-image_ref_ready": "no task definitions in-process: nothing pulls an image; entrypoint resolution is "
                             "checked by P(-1)-entrypoints_importable",
    "P0-forbidden_infra_absent": "no NAT gateway or load balancer can exist in-process",
    "P12-cloud_resources_destroyed": "no cloud resources in-process; daemons, consumers and leases are checked by "
                                     "P12-nothing_left_running",
}


def _git_sha() -> str | None:
    """The checkout's commit, when there is one (provenance only; never required)."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and len(sha) == 40 else None


class ReferenceTarget:
    name = "reference"

    def __init__(self, *, clock: Clock | None = None, traffic_events: int | None = None,
                 **options: Any) -> None:
        self.clock: Clock = clock or SystemClock()
        self._traffic_events = traffic_events
        self.options = dict(options)
        self.platform: SpinePlatform | None = None
        self.bus: InMemoryBus | None = None
        self.store: InMemoryObjectStore | None = None
        self.faults: FaultPoints | None = None
        self.run: RunSpec | None = None
        self._key_fingerprint: str | None = None
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        if run.mutant is not None and run.mutant not in MUTANT_NAMES:
            raise ConfigError(f"--spine-mutant must be one of {', '.join(sorted(MUTANT_NAMES))}, "
                              f"given: {run.mutant!r}")
        traffic = self._traffic_events
        if traffic is None:
            traffic = max(MIN_TRAFFIC_EVENTS, round(DEFAULT_TRAFFIC_EVENTS * run.workload_scale))
        api_key = secrets.token_urlsafe(24)  # per run; lives in memory only, never in evidence
        self._key_fingerprint = secret_fingerprint(api_key)
        redactor = getattr(evidence, "redactor", None)
        if redactor is not None and hasattr(redactor, "register"):
            redactor.register(api_key)  # belt and braces: the key is never put in evidence anyway
        digest = source_digest()
        git_sha = _git_sha()
        mutations = frozenset({run.mutant}) if run.mutant in SPINE_MUTANT_NAMES else frozenset()
        config = PlatformConfig(
            platform_run_id=run.platform_run_id, seed=run.seed, env="reference", traffic_events=traffic,
            mutations=mutations, api_key=api_key,
            image_tag=f"git-{git_sha[:12]}" if git_sha else f"local-{digest[:12]}",
            image_digest=f"sha256:{digest}", git_sha=git_sha,
            code_version=git_sha or f"reference_impl@{digest[:12]}",
        )
        self.faults = FaultPoints()
        self.bus = InMemoryBus(self.faults)
        self.store = InMemoryObjectStore(self.faults)
        self.platform = SpinePlatform(config, bus=self.bus, store=self.store, evidence=evidence, recorder=recorder,
                                      clock=self.clock, faults=self.faults)
        self.run = run
        self._stopped = False

    def _platform(self) -> SpinePlatform:
        if self.platform is None:
            raise ConfigError("the reference target was not started: call start(run, evidence, recorder) first")
        return self.platform

    def run_phase(self, phase_id: str) -> PhaseOutcome:
        if phase_id not in PHASE_IDS:
            raise ConfigError(f"phase id must be one of {', '.join(PHASE_IDS)}, given: {phase_id!r}")
        report = self._platform().run_phase(phase_id)
        return PhaseOutcome(report.phase_id, report.completed, report.error, dict(report.facts),
                            tuple(report.evidence_paths))

    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        platform = self._platform()
        try:
            return platform.drill(name, **params)
        except UnknownDrill as unknown:
            raise ProbeNotSupported(self.name, name, str(unknown)) from None
        except DrillUnavailable as unavailable:
            raise ProbeNotSupported(self.name, name, str(unavailable)) from None

    def not_applicable(self) -> Mapping[str, str]:
        return dict(NOT_APPLICABLE)

    def describe(self) -> Mapping[str, Any]:
        platform = self.platform
        facts: dict[str, Any] = {"target": self.name, "in_process": True, "bus": "InMemoryBus",
                                 "object_store": "InMemoryObjectStore"}
        if platform is not None:
            cfg = platform.config
            facts.update({"platform_run_id": cfg.platform_run_id, "seed": cfg.seed, "mutant": self.run and
                          self.run.mutant, "traffic_events": cfg.traffic_events, "image_tag": cfg.image_tag,
                          "image_digest": cfg.image_digest, "code_version": cfg.code_version,
                          "api_key_fingerprint": self._key_fingerprint,
                          "handle_names": sorted(cfg.handles.known_names()),
                          "fault_points": sorted(KNOWN_POINTS)})
        return facts

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.faults is not None:
            self.faults.disarm()  # a fault armed by a failed scenario never outlives the run
        platform = self.platform
        if platform is not None and platform.supervisor is not None:
            platform.supervisor.stop_all()


def create_target(**options: Any) -> ReferenceTarget:
    return ReferenceTarget(**options)
