"""Workload generators, registered by name with ``@workload`` so scenario files can name them.

A generator is a Python generator function ``(driver, params, rng) -> Generator[float, None, figures]``:
it yields its progress (0..1) between steps, so the runner can inject and roll back faults on schedule,
and returns the figures it measured. Parameters are declared with :class:`Param` and checked when the
scenario file is loaded. Other families register their own generators the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_spine.errors import SpineError
from pytest_spine.scenarios.driver import ChaosDriver

Figures = dict[str, Any]
GeneratorFn = Callable[[ChaosDriver, Mapping[str, Any], random.Random], Generator[float, None, Figures]]


@dataclass(frozen=True, slots=True)
class Param:
    type: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""
    # A count the PR profile scales down; False for structure (phases, rounds) that scaling would break.
    scaled: bool = True
    # A driver capability the workload needs only when this parameter is set (non-zero): e.g. keyless sends
    # need ``gate_client``, so the same generator still runs on drivers without it when the parameter is 0.
    needs: str | None = None

    def problem(self, value: Any) -> str | None:
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (isinstance(value, bool) and self.type is not bool):
            return f"must be {self.type.__name__}, given: {value!r}"
        number: Any = value
        if self.minimum is not None and number < self.minimum:
            return f"must be >= {self.minimum:g}, given: {value!r}"
        if self.maximum is not None and number > self.maximum:
            return f"must be <= {self.maximum:g}, given: {value!r}"
        return None


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    name: str
    run: GeneratorFn
    params: Mapping[str, Param]
    figures: tuple[str, ...]
    needs: frozenset[str]
    doc: str
    # The int parameter that cuts the workload into equal phases: fault schedules must sit on its boundaries.
    phased_by: str | None = None

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        for key in sorted(set(params) - set(self.params)):
            problems.append((key, f"unknown parameter {key!r} of generator {self.name!r}; it takes "
                                  f"{', '.join(sorted(self.params)) or 'no parameters'}"))
        for key, spec in self.params.items():
            if key in params:
                problem = spec.problem(params[key])
                if problem:
                    problems.append((key, problem))
        return problems

    def needs_for(self, params: Mapping[str, Any]) -> frozenset[str]:
        """What a driver must offer to run the workload with ``params``: ``needs``, plus the capability of every
        parameter that asks for one and is set."""
        extra = {spec.needs for key, spec in self.params.items()
                 if spec.needs is not None and params.get(key, spec.default)}
        return self.needs | extra

    def scaled_counts(self, resolved: Mapping[str, Any]) -> int:
        """The sum of the counts a scale shrinks (events, replays, flows, examples) in resolved parameters: how much
        traffic the workload plans, which a target's budget bounds."""
        return sum(int(resolved.get(key, spec.default)) for key, spec in self.params.items()
                   if spec.type is int and spec.scaled and key not in _UNSCALED)

    def resolved(self, params: Mapping[str, Any], scale: float = 1.0) -> dict[str, Any]:
        """Defaults filled in; counts scaled (``--spine-profile=pr`` runs a tenth) but never below minimum."""
        out = {key: params.get(key, spec.default) for key, spec in self.params.items()}
        if scale != 1.0:
            for key, spec in self.params.items():
                if spec.type is int and spec.scaled and key not in _UNSCALED:
                    floor = int(spec.minimum or 1)
                    out[key] = max(floor, int(out[key] * scale))
        return out


_UNSCALED = frozenset({"run_ids", "reporters", "ambiguous", "crashes"})
_WORKLOADS: dict[str, WorkloadSpec] = {}


class WorkloadDefinitionError(SpineError):
    """A ``@workload`` declaration is wrong; raised when its module is imported."""


def workload(name: str, *, params: Mapping[str, Param], figures: tuple[str, ...],
             needs: tuple[str, ...] = ("ingest",),
             phased_by: str | None = None) -> Callable[[GeneratorFn], GeneratorFn]:
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or name.lower() != name:
        raise WorkloadDefinitionError(f"@workload({name!r}): the name must be snake_case")

    def register(fn: GeneratorFn) -> GeneratorFn:
        if name in _WORKLOADS:
            raise WorkloadDefinitionError(f"@workload({name!r}) on {fn.__qualname__}: already registered by "
                                          f"{_WORKLOADS[name].run.__module__}")
        doc = (fn.__doc__ or name).strip().splitlines()[0]
        if phased_by is not None and (phased_by not in params or params[phased_by].type is not int
                                      or params[phased_by].scaled):
            raise WorkloadDefinitionError(f"@workload({name!r}): phased_by={phased_by!r} must name an unscaled "
                                          "int parameter (Param(int, ..., scaled=False))")
        _WORKLOADS[name] = WorkloadSpec(name, fn, dict(params), figures, frozenset(needs), doc, phased_by)
        return fn

    return register


def workloads() -> Mapping[str, WorkloadSpec]:
    """Every registered generator: the built-in ones and those of any ``pytest_spine.scenarios.*_generators``
    module (the extension point: add ``<family>_generators.py`` beside this file)."""
    import importlib
    import pkgutil

    import pytest_spine.scenarios as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "generators" or info.name.endswith("_generators"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    importlib.import_module(f"{package.__name__}.control_plane")  # registers the control-plane workloads
    return dict(_WORKLOADS)


def unregister_workload(name: str) -> None:
    """Remove a generator (tests that define throw-away workloads clean up with this)."""
    _WORKLOADS.pop(name, None)
