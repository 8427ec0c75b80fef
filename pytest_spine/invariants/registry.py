"""The invariant registry: one-pass checkers over a History, registered with ``@invariant``.

A checker is either a function ``(ops: Iterable[Operation], ctx: CheckContext) -> Verdict`` or a class
whose instances ``observe(op)`` one operation at a time and ``finish()`` with a Verdict. The class form
lets :func:`run_checks` feed every checker from a single pass over the history (a 1,000,000-line file is
read once, not once per invariant); the function form is the simplest thing another family can plug in.

Misuse fails where the checker is defined, as Hypothesis's ``@rule`` does: an id outside the catalogue
pattern, an id registered twice, or an object that is neither form.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pytest_spine.errors import SpineError
from pytest_spine.history import Operation
from pytest_spine.verdicts import Status, Verdict

# Catalogue families whose laws are checked over a history (MISSION.md).
ID_PATTERN = re.compile(r"^(INV|CP|SEC|TEL)-[A-Z0-9]+(?:-[A-Z0-9]+)*$")
KINDS = frozenset({"invariant", "control_plane", "security", "telemetry"})
COUNTEREXAMPLE_OPS = 6


class InvariantDefinitionError(SpineError):
    """An ``@invariant`` declaration is wrong; raised when the module defining it is imported."""


class EvidenceReader(Protocol):
    """Read access to an evidence bundle (the session's bundle, or a directory given to ``spine check``)."""

    def get(self, relpath: str) -> Mapping[str, Any] | None: ...

    def list(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a checker may know besides the history.

    ``None`` means "not known here" (an offline re-check of a history without its bundle): checkers that
    need it report NOT_APPLICABLE with that reason. A value that is known but empty is evidence: missing
    files are then a FAIL, never a skip.
    """

    platform_run_id: str | None = None
    evidence: EvidenceReader | None = None
    handles: frozenset[str] | None = None
    required_evidence: tuple[str, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Observer(Protocol):
    def observe(self, op: Operation) -> None: ...

    def finish(self) -> Verdict: ...


CheckFunction = Callable[[Iterable[Operation], CheckContext], Verdict]
ObserverFactory = Callable[[CheckContext], Observer]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InvariantSpec:
    check_id: str
    kind: str
    title: str
    reads: frozenset[str] | None  # the ``f`` values the checker looks at; None = every operation
    module: str
    function: CheckFunction | None = None
    observer: ObserverFactory | None = None

    def check(self, ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
        """Run this one checker over ``ops`` (the contract signature, whatever form it was written in)."""
        return run_checks(ops, ctx, [self])[0]


_REGISTRY: dict[str, InvariantSpec] = {}


def invariant(
    check_id: str, *, kind: str = "invariant", reads: Iterable[str] | None = None, title: str = ""
) -> Callable[[T], T]:
    """Register a one-pass checker for ``check_id`` (an INV-/CP-/SEC-/TEL- catalogue id)."""
    if not isinstance(check_id, str) or not ID_PATTERN.match(check_id):
        raise InvariantDefinitionError(
            f"@invariant({check_id!r}): the id must be a catalogue id matching {ID_PATTERN.pattern} "
            "(for example 'INV-DEDUPE-IDENTITY'); use the id from MISSION.md")
    if kind not in KINDS:
        raise InvariantDefinitionError(
            f"@invariant({check_id!r}, kind={kind!r}): kind must be one of {sorted(KINDS)}")
    read_set = None if reads is None else frozenset(reads)
    if read_set is not None and (not read_set or not all(isinstance(f, str) and f for f in read_set)):
        raise InvariantDefinitionError(
            f"@invariant({check_id!r}, reads={reads!r}): reads must name at least one operation 'f' "
            "(see docs/history-vocabulary.md), or be left out to see every operation")

    def register(obj: T) -> T:
        if check_id in _REGISTRY:
            raise InvariantDefinitionError(
                f"@invariant({check_id!r}) on {getattr(obj, '__qualname__', obj)!r}: the id is already "
                f"registered by {_REGISTRY[check_id].module}; each catalogue id has exactly one checker")
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        heading = title or (doc[0] if doc else check_id)
        module = str(getattr(obj, "__module__", "?"))
        if isinstance(obj, type):
            if not (callable(getattr(obj, "observe", None)) and callable(getattr(obj, "finish", None))):
                raise InvariantDefinitionError(
                    f"@invariant({check_id!r}) decorates class {obj.__qualname__}, which lacks "
                    "observe(op) and finish() -> Verdict; give it both, or decorate a function "
                    "(ops, ctx) -> Verdict instead")
            spec = InvariantSpec(check_id, kind, heading, read_set, module, observer=obj)
        elif callable(obj):
            spec = InvariantSpec(check_id, kind, heading, read_set, module, function=obj)
        else:
            raise InvariantDefinitionError(
                f"@invariant({check_id!r}) decorates {obj!r}, which is neither a function "
                "(ops, ctx) -> Verdict nor a class with observe/finish")
        _REGISTRY[check_id] = spec
        return obj

    return register


def unregister(check_id: str) -> None:
    """Remove a checker (tests that define throw-away invariants clean up with this)."""
    _REGISTRY.pop(check_id, None)


def registered() -> list[InvariantSpec]:
    from pytest_spine.invariants.catalogue import load_builtin

    load_builtin()
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def get(check_id: str) -> InvariantSpec:
    from pytest_spine.invariants.catalogue import load_builtin

    load_builtin()
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise SpineError(f"no checker is registered for {check_id!r}; known: "
                         f"{', '.join(sorted(_REGISTRY))}") from None


def run_checks(
    ops: Iterable[Operation], ctx: CheckContext, specs: Sequence[InvariantSpec] | None = None
) -> list[Verdict]:
    """Run checkers over one pass of ``ops``; returns their verdicts in the order of ``specs``.

    A checker that raises is reported UNKNOWN with the operation it choked on (a checker crash is never
    a PASS, and never hides the other checkers' verdicts).
    """
    chosen = list(registered() if specs is None else specs)
    observers: list[Observer | None] = []
    crashed: dict[int, Verdict] = {}
    buffers: dict[int, list[Operation]] = {}
    by_f: dict[str, list[tuple[int, Callable[[Operation], None]]]] = {}
    every: list[tuple[int, Callable[[Operation], None]]] = []
    for position, spec in enumerate(chosen):
        if spec.observer is not None:
            try:
                observer = spec.observer(ctx)
            except Exception as error:  # a checker that cannot start is UNKNOWN, not a crash of the run
                crashed[position] = _crash(spec, error, None)
                observers.append(None)
                continue
            observers.append(observer)
            sink: Callable[[Operation], None] = observer.observe
        else:
            observers.append(None)
            buffer: list[Operation] = []
            buffers[position] = buffer
            sink = buffer.append
        if spec.reads is None:
            every.append((position, sink))
        else:
            for f in spec.reads:
                by_f.setdefault(f, []).append((position, sink))
    table: dict[str, tuple[tuple[int, Callable[[Operation], None]], ...]] = {}
    # Checkers keep millions of small, long-lived records; the cyclic collector would rescan them all
    # again and again (it doubled the run time) and none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for op in ops:
            sinks = table.get(op.f)
            if sinks is None:
                sinks = table[op.f] = (*by_f.get(op.f, ()), *every)
            for position, sink in sinks:
                try:
                    sink(op)
                except Exception as error:
                    crashed[position] = _crash(chosen[position], error, op)
                    table = {f: tuple(s for s in row if s[0] != position) for f, row in table.items()}
                    by_f = {f: [s for s in row if s[0] != position] for f, row in by_f.items()}
                    every = [s for s in every if s[0] != position]
    finally:
        if collecting:
            gc.enable()
    verdicts: list[Verdict] = []
    for position, spec in enumerate(chosen):
        if position in crashed:
            verdicts.append(crashed[position])
            continue
        try:
            if spec.function is not None:
                verdicts.append(spec.function(buffers[position], ctx))
            else:
                made = observers[position]
                assert made is not None
                verdicts.append(made.finish())
        except Exception as error:
            verdicts.append(_crash(spec, error, None))
    return verdicts


def _crash(spec: InvariantSpec, error: Exception, op: Operation | None) -> Verdict:
    where = f" at operation {op.index} ({op.f} {op.type})" if op is not None else ""
    return Verdict(
        spec.check_id, spec.kind, Status.UNKNOWN,
        f"the checker raised {type(error).__name__}: {error}{where}; the history does not carry the "
        "fields docs/history-vocabulary.md promises",
        counterexample=(op.to_json(),) if op is not None else (),
    )


def counterexample(*ops: Operation | Mapping[str, Any] | None) -> tuple[Mapping[str, Any], ...]:
    """The few operations that show a violation, in history order, as JSON objects."""
    rows = [op.to_json() if isinstance(op, Operation) else dict(op) for op in ops if op is not None]
    rows.sort(key=lambda row: int(row.get("index", -1)))
    return tuple(rows[:COUNTEREXAMPLE_OPS])


def iter_specs(kind: str | None = None) -> Iterator[InvariantSpec]:
    for spec in registered():
        if kind is None or spec.kind == kind:
            yield spec
