"""Scenario records: what a scenario file says once it has been validated. Frozen, so a plan printed by
``--spine-dry-run`` is exactly what runs."""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.errors import SpineError

_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_THRESHOLD = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    figure: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _THRESHOLD.match(text)
        if match is None:
            raise SpineError(f"threshold {text!r} is not '<figure> <op> <number>' (for example "
                             "'replay_rejection_ratio >= 0.999')")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def holds(self, measured: Any) -> bool:
        if isinstance(measured, bool):
            measured = int(measured)
        if not isinstance(measured, int | float):
            return False
        return _COMPARATORS[self.op](measured, self.value)

    def __str__(self) -> str:
        value = int(self.value) if self.value.is_integer() else self.value
        return f"{self.figure} {self.op} {value}"


@dataclass(frozen=True, slots=True)
class Schedule:
    start: float
    stop: float  # 1.0 = until the workload ends

    def __str__(self) -> str:
        return f"{self.start:.0%} -> {self.stop:.0%} of the workload"


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    kind: str
    params: Mapping[str, Any]
    schedule: Schedule
    rollback: str


@dataclass(frozen=True, slots=True)
class Workload:
    generator: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SteadyState:
    probe_events: int = 10
    invariants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BlackBoxVariant:
    """How a scenario runs on a platform the harness did not write (any env): it has no fault points to arm, so
    its faults are what a client can do to the gate (``send_race``), and its workload may be one that speaks the
    gate's HTTP contract. The invariants and thresholds stay the scenario's own."""

    faults: tuple[Fault, ...]
    workload: Workload | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    description: str
    path: str
    workload: Workload
    faults: tuple[Fault, ...]
    invariants: tuple[str, ...]
    thresholds: tuple[Threshold, ...] = ()
    gates: Mapping[str, str] = field(default_factory=dict)
    steady_state: SteadyState = SteadyState()
    seeds: tuple[int, ...] = (0,)
    envs: tuple[str, ...] = ("reference",)
    destructive: bool = False
    markers: tuple[str, ...] = ()
    version: int = 1
    # env -> the faults that replace ``faults`` on that target (same id, workload and checks)
    variants: Mapping[str, tuple[Fault, ...]] = field(default_factory=dict)
    black_box: BlackBoxVariant | None = None  # ``variants: {black_box: ...}`` of the file

    def instance_id(self, seed: int) -> str:
        """The test id and evidence folder of one run: ``CH-REPLAY-FLOOD-seed=3``."""
        return f"{self.id}-seed={seed}"

    def for_env(self, env: str) -> Scenario:
        """The scenario as it runs on ``env``: its variant's faults in place of the default ones."""
        if env not in self.variants:
            return self
        return dataclasses.replace(self, faults=self.variants[env], variants={})

    def for_target(self, env: str, *, black_box: bool) -> Scenario:
        """The scenario as it runs on the session's target. A black box takes the ``black_box`` variant when the
        file has one, else the default faults: the per-env variants fault the harness's own reference there."""
        if not black_box:
            return self.for_env(env)
        if self.black_box is None:
            return dataclasses.replace(self, variants={})
        # The variant stays on the record: it still says the scenario is declared for black boxes (applicable()
        # runs after this), and applying it again changes nothing.
        return dataclasses.replace(self, faults=self.black_box.faults,
                                   workload=self.black_box.workload or self.workload, variants={})
