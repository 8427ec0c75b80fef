"""The reference platform's own error tree (it never imports pytest_spine).

Every message names the component or object, quotes the bad value and says the fix."""

from __future__ import annotations

from collections.abc import Iterable


class PlatformError(Exception):
    """Base of every error the reference platform raises on purpose."""


class ScopeMismatch(PlatformError):
    """A daemon was started without, or with another, REQUIRED_PLATFORM_RUN_ID: it fails closed."""

    def __init__(self, component: str, required: str | None, observed: str) -> None:
        self.component = component
        self.required = required
        self.observed = observed
        super().__init__(
            f"{component}: REQUIRED_PLATFORM_RUN_ID is {required!r} but the run is {observed!r}; "
            "the daemon refuses to serve another run (set REQUIRED_PLATFORM_RUN_ID to the run's id)")


class UnknownHandle(PlatformError, KeyError):
    def __init__(self, kind: str, key: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} handle {key!r} is not in the handles registry; known: {sorted(known)}; "
                         "add it to reference_impl/handles.py instead of hard-coding a name")

    def __str__(self) -> str:
        return str(self.args[0])


class AppendOnlyViolation(PlatformError):
    """An in-place rewrite of an append-only log was attempted and refused."""


class ReporterLockHeld(PlatformError):
    def __init__(self, key: str, holder: str, requester: str) -> None:
        self.key = key
        self.holder = holder
        self.requester = requester
        super().__init__(f"reporter lock {key!r} is held by {holder!r}; {requester!r} may not close the run "
                         "(single writer: wait for the holder or investigate the stale lock)")


class LeaseConflict(PlatformError):
    def __init__(self, key: str, holder: str, requester: str) -> None:
        self.key = key
        self.holder = holder
        super().__init__(f"SR lease {key!r} is held by {holder!r}; {requester!r} refuses to run the same "
                         "scenario equivalence key (clear the lease only after the holder is gone)")


class ReadyNotFound(PlatformError):
    def __init__(self, platform_run_id: str, topic: str) -> None:
        super().__init__(f"WSP found no READY for run {platform_run_id!r} on topic {topic!r}; "
                         "run P5 (SR) first: streaming without READY is refused")


class OracleNotReady(PlatformError):
    """SR or WSP found the oracle lane not ready (checker FAIL, missing stream_view or manifest)."""


class NonRetryableIngest(PlatformError):
    def __init__(self, event_id: str, status_code: int, error: str) -> None:
        self.event_id = event_id
        self.status_code = status_code
        super().__init__(f"WSP stopped: IG answered {status_code} ({error}) for event {event_id!r}, "
                         "a non-retryable error; fix the request and rerun P6 (event ids are stable)")


class PhaseOrderError(PlatformError):
    """A phase was run out of the canonical order."""


class UnknownDrill(PlatformError, KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        super().__init__(f"unknown drill {name!r}; known drills: {', '.join(sorted(known))}")

    def __str__(self) -> str:
        return str(self.args[0])


class DrillUnavailable(PlatformError):
    """A drill needs components that earlier phases create."""


class UnknownFaultPoint(PlatformError, KeyError):
    def __init__(self, point: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown fault point {point!r}; known points: {', '.join(sorted(known))}")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownMutant(PlatformError, KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown mutant {name!r}; known mutants: {', '.join(sorted(known))}")

    def __str__(self) -> str:
        return str(self.args[0])
