"""Invariant checkers over a History: ``@invariant`` registers a one-pass checker, ``run_checks`` feeds
many checkers from a single pass. Families: ``ingest``, ``stores``, ``streaming``, ``evidence`` (and
``control_plane``, ``security`` from their owners)."""

from __future__ import annotations

from pytest_spine.invariants.registry import (
    CheckContext,
    InvariantDefinitionError,
    InvariantSpec,
    get,
    invariant,
    registered,
    run_checks,
)

__all__ = ["CheckContext", "InvariantDefinitionError", "InvariantSpec", "get", "invariant", "registered",
           "run_checks"]
