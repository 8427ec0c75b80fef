"""Timeout classes and the retry policy (CP-005): capped budget, exponential backoff, seeded jitter."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUTS: Mapping[str, float] = {
    "poll": 30.0,  # one long-poll of the command channel
    "short": 60.0,  # quick tasks
    "standard": 300.0,  # the default heavy task
    "long": 1800.0,  # reports, rebuilds
}


@dataclass(frozen=True, slots=True)
class TimeoutClasses:
    """Execution timeout per class; the lease outlives the timeout by a grace period."""

    seconds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    lease_grace: float = 30.0

    def timeout(self, timeout_class: str) -> float:
        if timeout_class not in self.seconds:
            raise KeyError(f"timeout class {timeout_class!r} is not one of {sorted(self.seconds)}")
        return float(self.seconds[timeout_class])

    def lease(self, timeout_class: str) -> float:
        return self.timeout(timeout_class) + self.lease_grace

    def to_json(self) -> dict[str, Any]:
        return {"seconds": dict(self.seconds), "lease_grace": self.lease_grace}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` per generation; the n-th retry waits base * factor**(n-1), capped, minus up to
    ``jitter`` of itself (so retries of many jobs never line up)."""

    max_attempts: int = 4
    base_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, given: {self.max_attempts}")
        if self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError(f"RetryPolicy needs 0 < base_delay <= max_delay, given: "
                             f"{self.base_delay} and {self.max_delay}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), given: {self.jitter}")

    def nominal_delay(self, retry_number: int) -> float:
        return float(min(self.max_delay, self.base_delay * self.factor ** (retry_number - 1)))

    def delay(self, retry_number: int, rng: random.Random) -> float:
        nominal = self.nominal_delay(retry_number)
        return nominal * (1.0 - self.jitter * rng.random())

    def to_json(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts, "base_delay": self.base_delay, "factor": self.factor,
                "max_delay": self.max_delay, "jitter": self.jitter}
