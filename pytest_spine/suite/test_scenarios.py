"""Chaos scenarios (CH-*): one item per scenario file and seed, ``test_scenario[CH-REPLAY-FLOOD-seed=3]``.

A malformed scenario file becomes a failing item of its own (file, place, reason); the others still run.
With ``--spine-dry-run`` each item prints its plan and touches nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spine.scenarios.execute import Catalogue, collect, execute
from pytest_spine.scenarios.plan import render_plan
from pytest_spine.verdicts import Status, Verdict

_CATALOGUES: dict[int, Catalogue] = {}


def _catalogue(config: pytest.Config) -> Catalogue:
    key = id(config)
    if key not in _CATALOGUES:
        seed = config.getoption("spine_seed", None)
        _CATALOGUES[key] = collect(Path(str(config.rootpath)), None if seed is None else int(seed))
    return _CATALOGUES[key]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario_id" not in metafunc.fixturenames:
        return
    catalogue = _catalogue(metafunc.config)
    params = [pytest.param(instance, id=instance, marks=[getattr(pytest.mark, m) for m in scenario.markers])
              for instance, (scenario, _) in sorted(catalogue.instances.items())]
    params += [pytest.param(name, id=name) for name in sorted(catalogue.rejected)]
    metafunc.parametrize("scenario_id", params)


@pytest.mark.spine_scenario
def test_scenario(spine: Any, scenario_id: str, request: pytest.FixtureRequest) -> None:
    catalogue = _catalogue(request.config)
    if scenario_id in catalogue.rejected:
        error = catalogue.rejected[scenario_id]
        spine.report(Verdict(scenario_id, "scenario", Status.FAIL, f"scenario file rejected: {error}"))
        return
    scenario, seed = catalogue.instances[scenario_id]
    if spine.settings.dry_run:
        capture = request.config.pluginmanager.getplugin("capturemanager")
        plan = render_plan(scenario.for_env(spine.settings.env), seed, float(spine.run.workload_scale))
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(f"\n{plan}")
        spine.report(Verdict(scenario.id, "scenario", Status.NOT_APPLICABLE,
                             f"dry run: {scenario_id} validated and planned; the target was not touched"))
        return
    verdict, _ = execute(spine, scenario, seed)
    spine.report(verdict)
