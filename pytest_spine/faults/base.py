"""Fault kinds behind one Protocol, registered by name so scenario files can use them.

A kind validates its parameters when the scenario file is loaded (so a bad file is rejected at collection
with the place), injects through the chaos driver, and knows how to roll itself back. Rollback must be
safe to call twice and after a failed injection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pytest_spine.errors import SpineError
from pytest_spine.scenarios.driver import ChaosDriver


class FaultKind(Protocol):
    name: str
    rollbacks: frozenset[str]  # the rollback strategies a scenario may name
    needs: frozenset[str]  # driver capabilities

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems as (place under ``params``, reason); empty when the parameters are usable."""
        ...

    def describe(self, params: Mapping[str, Any]) -> str:
        """One line for the dry-run plan."""
        ...

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None: ...

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None: ...


class FaultKindError(SpineError):
    """A fault kind is registered wrongly (duplicate or malformed name)."""


_KINDS: dict[str, FaultKind] = {}


def register_fault_kind(kind: FaultKind) -> FaultKind:
    if not kind.name or not kind.name.replace("_", "").isalnum() or not kind.name[0].isalpha():
        raise FaultKindError(f"fault kind name {kind.name!r} must be snake_case (it is written in scenario files)")
    if kind.name in _KINDS:
        raise FaultKindError(f"fault kind {kind.name!r} is already registered by "
                             f"{type(_KINDS[kind.name]).__module__}; pick another name")
    _KINDS[kind.name] = kind
    return kind


def fault_kinds() -> Mapping[str, FaultKind]:
    """Every registered kind: each module of ``pytest_spine.faults`` registers its own on import (add
    ``pytest_spine/faults/<kind>.py`` to add one)."""
    import importlib
    import pkgutil

    import pytest_spine.faults as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("base",) and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    importlib.import_module("pytest_spine.scenarios.control_plane")  # registers the control-plane fault kind
    return dict(_KINDS)
