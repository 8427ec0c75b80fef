"""Scenario files -> validated, frozen Scenario records, or a ScenarioError naming the file, the place
(line and field path) and the reason.

Checks, in order: YAML syntax; the JSON Schema (``scenario.schema.json``); then what a schema cannot
know: the id is in the catalogue and matches the file name, the generator and fault kinds are
registered and accept their parameters, the invariants have checkers, thresholds name figures the
generator measures, gate criteria exist, and the fault schedule is possible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import ScenarioError, SpineError
from pytest_spine.scenarios.model import BlackBoxVariant, Fault, Scenario, Schedule, SteadyState, Threshold, Workload

# The chaos scenarios of the catalogue (MISSION.md).
CATALOGUE: tuple[str, ...] = (
    "CH-REPLAY-FLOOD", "CH-DUPLICATE-COMMAND-REPLAY", "CH-RESTART-DURING-RUNNING", "CH-DUPLICATE-RESUME",
    "CH-POLL-TIMEOUT-BURST", "CH-SUCCESS-THEN-REPORTING-FAILURE", "CH-PUBLISH-AMBIGUITY",
    "CH-CONSUMER-CRASH-BEFORE-COMMIT", "CH-BROKER-PARTITION", "CH-S3-FAULTS", "CH-LATE-CONTEXT",
    "CH-CONCURRENT-REPORTERS", "CH-RATE-BURST", "CH-OVERSIZE-FUZZ", "CH-SIG-TAMPER-FLOOD",
)
SCHEMA_NAME = "scenario.schema.json"
BLACK_BOX = "black_box"  # the variant for a platform the harness did not write (any env)


DATA = Path(__file__).resolve().parent.parent / "data"


def packaged_dir() -> Path:
    return DATA / "scenarios"


def schema() -> Mapping[str, Any]:
    text = (DATA / "schemas" / SCHEMA_NAME).read_text(encoding="utf-8")
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True, slots=True)
class LoadReport:
    scenarios: tuple[Scenario, ...]
    errors: tuple[ScenarioError, ...]


def load_dir(*folders: Path) -> LoadReport:
    """Every ``*.yaml`` in the folders; one bad file is an error of its own, the others still load."""
    scenarios: list[Scenario] = []
    errors: list[ScenarioError] = []
    seen: dict[str, str] = {}
    visited: set[Path] = set()
    for folder in folders:
        # The repository's top-level scenarios/ is a link to the packaged folder: read each folder once.
        if not folder.is_dir() or folder.resolve() in visited:
            continue
        visited.add(folder.resolve())
        for path in sorted(folder.glob("*.y*ml")):
            try:
                scenario = load_file(path)
            except ScenarioError as error:
                errors.append(error)
                continue
            if scenario.id in seen:
                errors.append(ScenarioError(str(path), "id", f"scenario {scenario.id} is also defined in "
                                            f"{seen[scenario.id]}; each CH-* id has one file"))
                continue
            seen[scenario.id] = str(path)
            scenarios.append(scenario)
    return LoadReport(tuple(scenarios), tuple(errors))


def load_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as bad:
        raise ScenarioError(str(path), "file", f"cannot be read: {bad}") from None
    return load_text(text, str(path))


def load_text(text: str, where: str) -> Scenario:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as bad:
        mark = bad.problem_mark or bad.context_mark
        place = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else "the file"
        raise ScenarioError(where, place, f"not valid YAML: {bad.problem or bad.context}") from None
    except yaml.YAMLError as bad:
        raise ScenarioError(where, "the file", f"not valid YAML: {bad}") from None
    if not isinstance(document, dict):
        raise ScenarioError(where, "line 1", "a scenario file is a mapping with id, description, workload, "
                            f"faults and invariants; given: {type(document).__name__}")
    places = _Places(node)
    _check_schema(document, where, places)
    return _build(document, where, places)


class _Places:
    """Turns a field path into 'line N (faults[0].schedule.start)' using the YAML node marks."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def __call__(self, path: Sequence[str | int]) -> str:
        import yaml

        node = self.root
        line = 1
        for key in path:
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == key), None)
                if found is None:
                    break
                line = next(k.start_mark.line + 1 for k, v in node.value if k.value == key)
                node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        dotted = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                         for i, p in enumerate(path)) or "the top level"
        return f"line {line} ({dotted})"


def _check_schema(document: Mapping[str, Any], where: str, places: _Places) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    problems = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), str(e.message)))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ScenarioError(where, places(list(first.absolute_path)),
                            f"{first.message}{more}; see {SCHEMA_NAME}")


def _build(doc: Mapping[str, Any], where: str, places: _Places) -> Scenario:
    from pytest_spine.invariants.registry import registered
    from pytest_spine.scenarios.workloads import workloads

    registered()  # checker families may register generators and fault kinds of their own on import

    def fail(path: Sequence[str | int], reason: str) -> ScenarioError:
        return ScenarioError(where, places(path), reason)

    scenario_id = str(doc["id"])
    if scenario_id not in CATALOGUE:
        raise fail(["id"], f"{scenario_id!r} is not a chaos scenario of the catalogue; use one of "
                           f"{', '.join(CATALOGUE)}")
    stem = Path(where).stem
    if Path(where).suffix in (".yaml", ".yml") and stem != scenario_id:
        raise fail(["id"], f"the file is named {stem!r} but declares {scenario_id!r}; name it {scenario_id}.yaml")

    generators = workloads()
    generator_name = str(doc["workload"]["generator"])
    spec = generators.get(generator_name)
    if spec is None:
        raise fail(["workload", "generator"], f"unknown workload generator {generator_name!r}; registered: "
                                              f"{', '.join(sorted(generators))}")
    params = dict(doc["workload"].get("params") or {})
    for key, reason in spec.validate(params):
        raise fail(["workload", "params", key], reason)

    phases = int(params.get(spec.phased_by, spec.params[spec.phased_by].default)) if spec.phased_by else None
    faults = _build_faults(doc["faults"], ["faults"], spec.name, spec.phased_by, phases, fail)
    target = doc.get("target") or {}
    envs = tuple(target.get("envs") or ("reference",))
    variants: dict[str, tuple[Fault, ...]] = {}
    black_box: BlackBoxVariant | None = None
    for env, variant in (doc.get("variants") or {}).items():
        if env == BLACK_BOX:
            # Not an env: how the scenario runs on a platform the harness did not write, whichever env that is.
            black_box = _black_box_variant(variant, params, spec, generators, fail)
            continue
        if env not in envs:
            raise fail(["variants", env], f"a variant for {env!r}, but the scenario is declared for "
                                          f"{', '.join(envs)} only (target.envs); add {env!r} there or drop it")
        variants[env] = _build_faults(variant["faults"], ["variants", env, "faults"], spec.name, spec.phased_by,
                                      phases, fail)

    invariants = tuple(doc["invariants"])
    _check_invariants(invariants, ["invariants"], fail)
    steady_raw = doc.get("steady_state") or {}
    steady = SteadyState(int(steady_raw.get("probe_events", 10)), tuple(steady_raw.get("invariants", ())))
    _check_invariants(steady.invariants, ["steady_state", "invariants"], fail)

    thresholds: list[Threshold] = []
    for number, text in enumerate(doc.get("thresholds") or ()):
        try:
            threshold = Threshold.parse(text)
        except SpineError as bad:
            raise fail(["thresholds", number], str(bad)) from None
        if threshold.figure not in spec.figures:
            raise fail(["thresholds", number], f"generator {spec.name!r} does not measure {threshold.figure!r}; "
                                               f"it measures {', '.join(spec.figures)}")
        thresholds.append(threshold)
    if black_box is not None and black_box.workload is not None:
        variant_spec = generators[black_box.workload.generator]
        for number, threshold in enumerate(thresholds):
            if threshold.figure not in variant_spec.figures:
                raise fail(["thresholds", number], f"the black_box variant's generator {variant_spec.name!r} does "
                                                   f"not measure {threshold.figure!r}; it measures "
                                                   f"{', '.join(variant_spec.figures)}")

    gates = dict(doc.get("gates") or {})
    if gates:
        from pytest_spine.gates.catalogue import all_criteria

        known = {c.check_id for c in all_criteria()}
        for gate_id in gates:
            if gate_id not in known:
                raise fail(["gates", gate_id], f"no gate criterion {gate_id!r} is defined")

    return Scenario(
        id=scenario_id, description=str(doc["description"]).strip(), path=where,
        workload=Workload(spec.name, params), faults=faults, invariants=invariants,
        thresholds=tuple(thresholds), gates=gates, steady_state=steady,
        seeds=tuple(doc.get("seeds") or (0,)), envs=envs,
        destructive=bool(target.get("destructive", False)), markers=tuple(doc.get("markers") or ()),
        version=int(doc.get("version", 1)), variants=variants, black_box=black_box,
    )


def _build_faults(raws: Sequence[Mapping[str, Any]], path: list[str | int], generator: str, phased_by: str | None,
                  phases: int | None, fail: Any) -> tuple[Fault, ...]:
    from pytest_spine.faults.base import fault_kinds

    kinds = fault_kinds()
    faults: list[Fault] = []
    for number, raw in enumerate(raws):
        kind = kinds.get(raw["kind"])
        if kind is None:
            raise fail([*path, number, "kind"], f"unknown fault kind {raw['kind']!r}; registered: "
                                                f"{', '.join(sorted(kinds))}")
        fault_params = dict(raw.get("params") or {})
        for key, reason in kind.validate(fault_params):
            raise fail([*path, number, "params", key], reason)
        if raw["rollback"] not in kind.rollbacks:
            raise fail([*path, number, "rollback"], f"fault kind {kind.name!r} rolls back with "
                                                    f"{', '.join(sorted(kind.rollbacks))}, given: "
                                                    f"{raw['rollback']!r}")
        start = float(raw["schedule"]["start"])
        stop = float(raw["schedule"].get("stop", 1.0))
        if stop <= start:
            raise fail([*path, number, "schedule"], f"impossible schedule: the fault stops at {stop:g} but "
                                                    f"starts at {start:g}; stop must come after start")
        if any(f.name == raw["name"] for f in faults):
            raise fail([*path, number, "name"], f"fault name {raw['name']!r} is used twice")
        faults.append(Fault(raw["name"], kind.name, fault_params, Schedule(start, stop), raw["rollback"]))
    _check_overlaps(faults, _under(path, fail))
    if phased_by is not None and phases is not None:
        _check_phase_boundaries(faults, phases, generator, phased_by, _under(path, fail))
    return tuple(faults)


def _black_box_variant(variant: Mapping[str, Any], params: Mapping[str, Any], spec: Any, generators: Mapping[str, Any],
                       fail: Any) -> BlackBoxVariant:
    """``variants.black_box``: its faults (checked against its own generator's phases) and, optionally, a workload
    of its own (a generator that speaks the gate's contract), checked like the top-level one."""
    workload: Workload | None = None
    raw = variant.get("workload")
    if raw is not None:
        name = str(raw["generator"])
        spec = generators.get(name)
        if spec is None:
            raise fail(["variants", BLACK_BOX, "workload", "generator"],
                       f"unknown workload generator {name!r}; registered: {', '.join(sorted(generators))}")
        params = dict(raw.get("params") or {})
        for key, reason in spec.validate(params):
            raise fail(["variants", BLACK_BOX, "workload", "params", key], reason)
        workload = Workload(spec.name, params)
    phases = int(params.get(spec.phased_by, spec.params[spec.phased_by].default)) if spec.phased_by else None
    faults = _build_faults(variant["faults"], ["variants", BLACK_BOX, "faults"], spec.name, spec.phased_by, phases,
                           fail)
    return BlackBoxVariant(faults, workload)


def _under(path: list[str | int], fail: Any) -> Any:
    """``fail`` for helpers that name places under ``faults``: the same place under a variant's faults."""
    def located(place: Sequence[str | int], reason: str) -> Any:
        return fail([*path, *place[1:]] if place and place[0] == "faults" else place, reason)
    return located


def _check_invariants(ids: Iterable[str], path: list[str | int], fail: Any) -> None:
    from pytest_spine.invariants.registry import registered

    known = {spec.check_id for spec in registered()}
    for number, check_id in enumerate(ids):
        if check_id not in known:
            raise fail([*path, number], f"no checker is registered for {check_id!r}; known: "
                                        f"{', '.join(sorted(known))}")


def _check_phase_boundaries(faults: list[Fault], phases: int, generator: str, param: str, fail: Any) -> None:
    """A phased generator moves between phases only at k/phases: a fault off those boundaries would start or
    stop in the middle of a phase, which the generator never reports, so its window would silently shift."""
    for number, fault in enumerate(faults):
        for edge, at in (("start", fault.schedule.start), ("stop", fault.schedule.stop)):
            if abs(at * phases - round(at * phases)) > 1e-9:
                raise fail(["faults", number, "schedule", edge],
                           f"impossible schedule: {edge} {at:g} is not a phase boundary of generator "
                           f"{generator!r} ({param}: {phases} -> multiples of {1 / phases:g})")


def _check_overlaps(faults: list[Fault], fail: Any) -> None:
    """Two faults on the same point at the same time would race for it: the schedule is impossible."""
    for number, fault in enumerate(faults):
        point = fault.params.get("point")
        for other in faults[:number]:
            if point is None or other.kind != fault.kind or other.params.get("point") != point:
                continue
            if fault.schedule.start < other.schedule.stop and other.schedule.start < fault.schedule.stop:
                raise fail(["faults", number, "schedule"],
                           f"impossible schedule: fault {fault.name!r} overlaps {other.name!r} on the same point "
                           f"{point!r}; schedule them one after the other")
