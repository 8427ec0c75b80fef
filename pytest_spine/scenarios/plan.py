"""The plan of a scenario, as ``--spine-dry-run`` and ``spine scenarios plan`` print it: workload, fault
schedule with rollback, checks. Built from the validated record alone: nothing touches a target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.faults.base import fault_kinds
from pytest_spine.scenarios.model import Fault, Scenario
from pytest_spine.scenarios.workloads import workloads


def plan_json(scenario: Scenario, seed: int, scale: float = 1.0) -> dict[str, Any]:
    spec = workloads()[scenario.workload.generator]
    kinds = fault_kinds()
    return {
        "scenario": scenario.id, "instance": scenario.instance_id(seed), "file": scenario.path,
        "workload": {"generator": spec.name, "params": spec.resolved(scenario.workload.params, scale),
                     "measures": list(spec.figures)},
        "faults": [_fault(f, kinds) for f in scenario.faults],
        **({"variants": {env: [_fault(f, kinds) for f in faults] for env, faults in scenario.variants.items()}}
           if scenario.variants else {}),
        **({"black_box": _black_box(scenario, scale, kinds)} if scenario.black_box is not None else {}),
        "invariants": list(scenario.invariants),
        "thresholds": [str(t) for t in scenario.thresholds],
        "gates": dict(scenario.gates),
        "steady_state": {"probe_events": scenario.steady_state.probe_events,
                         "invariants": list(scenario.steady_state.invariants)},
        "envs": list(scenario.envs),
    }


def _black_box(scenario: Scenario, scale: float, kinds: Mapping[str, Any]) -> dict[str, Any]:
    """The variant a platform the harness did not write runs (before the registry's chaos budgets scale it)."""
    assert scenario.black_box is not None
    workload = scenario.black_box.workload or scenario.workload
    spec = workloads()[workload.generator]
    return {"workload": {"generator": spec.name, "params": spec.resolved(workload.params, scale)},
            "faults": [_fault(f, kinds) for f in scenario.black_box.faults]}


def _fault(fault: Fault, kinds: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": fault.name, "kind": fault.kind, "does": kinds[fault.kind].describe(fault.params),
            "start": fault.schedule.start, "stop": fault.schedule.stop, "rollback": fault.rollback}


def render_plan(scenario: Scenario, seed: int, scale: float = 1.0) -> str:
    plan = plan_json(scenario, seed, scale)
    params = ", ".join(f"{k}={v}" for k, v in plan["workload"]["params"].items())
    lines = [f"{plan['instance']}  ({scenario.path})",
             f"  {scenario.description}",
             f"  workload   {plan['workload']['generator']}({params})"]
    for fault in plan["faults"]:
        lines.append(f"  fault      {fault['name']}: {fault['does']}; active {fault['start']:.0%} -> "
                     f"{fault['stop']:.0%} of the workload; rollback: {fault['rollback']} (always)")
    if not plan["faults"]:
        lines.append("  fault      (none)")
    for env, faults in plan.get("variants", {}).items():
        for fault in faults:
            lines.append(f"  on {env}: fault {fault['name']}: {fault['does']}; active {fault['start']:.0%} -> "
                         f"{fault['stop']:.0%}; rollback: {fault['rollback']} (always)")
    if "black_box" in plan:
        variant = plan["black_box"]
        params = ", ".join(f"{k}={v}" for k, v in variant["workload"]["params"].items())
        lines.append(f"  on a black box: workload {variant['workload']['generator']}({params}), scaled to the "
                     "registry's platform.chaos_budgets")
        for fault in variant["faults"]:
            lines.append(f"  on a black box: fault {fault['name']}: {fault['does']}; active {fault['start']:.0%} -> "
                         f"{fault['stop']:.0%}; rollback: {fault['rollback']} (always)")
    lines.append(f"  steady     {plan['steady_state']['probe_events']} probe events before and after the faults"
                 + (f"; {', '.join(plan['steady_state']['invariants'])}" if plan["steady_state"]["invariants"]
                    else ""))
    lines.append(f"  invariants {', '.join(plan['invariants'])}")
    if plan["thresholds"]:
        lines.append(f"  thresholds {'; '.join(plan['thresholds'])}")
    for gate, expected in plan["gates"].items():
        lines.append(f"  gate       {gate} must {expected}")
    return "\n".join(lines)
