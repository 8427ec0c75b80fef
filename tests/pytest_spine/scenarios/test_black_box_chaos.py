"""Traffic chaos through the gate of a platform the harness did not write: ``tests/independent_platform/miniplat``,
started per scenario instance for the instance's own run id, driven only over HTTP, judged from what the harness
sent, what the gate answered and what then appeared on its topics and in its buckets.

- CH-REPLAY-FLOOD (its black_box variant: racing copies, wrong-run, no-key and wrong-key sends) and
  CH-OVERSIZE-FUZZ (the gate's HTTP contract fuzzed) pass on the clean platform;
- each miniplat defect on the gate's paths fails the observed law that exists to find it, in that law's own logic
  (its anomaly class), not a knock-on;
- read-only, every scenario is NOT_APPLICABLE with the reason and nothing is sent; destructive, a whole pytest
  session runs CH-REPLAY-FLOOD and leaves nothing running.

Workloads are kept small with the registry's ``platform.chaos_budgets`` (miniplat answers about 15 sends/s: it
writes one receipt object per answer).
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.history import History
from pytest_spine.scenarios.black_box_driver import BlackBoxDriver, PlatformAccess
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.runner import ScenarioResult, run_scenario
from pytest_spine.scenarios.workloads import workloads
from pytest_spine.stack.fixture import SessionStack, services_stack_dir, session_stack
from pytest_spine.verdicts import Status, Verdict

PLATFORM_DIR = Path(__file__).resolve().parents[2] / "independent_platform"
sys.path.insert(0, str(PLATFORM_DIR))
import launcher  # noqa: E402

pytestmark = [pytest.mark.services]
PARALLEL = 6  # every job at once: the platforms mostly wait on their store's receipt writes
BUDGET = {"max_events": 100, "max_rate_per_s": 400, "max_duration_s": 60}
SEED = 3
OBSERVED = ("INV-DEDUPE-IDENTITY", "INV-PAYLOAD-ANOMALY", "INV-RECEIPTS-RECONCILE", "INV-IG-ONLY-PUBLISHER",
            "INV-RUN-SCOPE")
# defect -> (the observed law that must fail, the anomaly class it must name)
DEFECTS: dict[str, tuple[str, str]] = {
    "double_publish": ("INV-DEDUPE-IDENTITY", "duplicate"),
    "anomaly_as_duplicate": ("INV-PAYLOAD-ANOMALY", "masked anomaly"),
    "scope_open": ("INV-RUN-SCOPE", "scope leak"),
    "auth_open": ("INV-IG-ONLY-PUBLISHER", "open writer boundary"),
}
JOBS: tuple[tuple[str, str | None], ...] = (
    ("CH-REPLAY-FLOOD", None), *(("CH-REPLAY-FLOOD", defect) for defect in DEFECTS), ("CH-OVERSIZE-FUZZ", None))


@pytest.fixture(scope="module")
def stack(pytestconfig: pytest.Config) -> Iterator[SessionStack]:
    directory = services_stack_dir(pytestconfig.rootpath)
    with session_stack("native", stack_dir=directory, services=("kafka", "s3")) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def aws_credentials() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(key, value)
        yield


def _platform(stack: SessionStack, root: Path, defects: tuple[str, ...] = ()) -> launcher.PlatformHandle:
    """A provisioned miniplat whose registry lowers the chaos budgets (nothing is started)."""
    handle = launcher.make_platform(Path(stack.state.stack_dir), root / uuid.uuid4().hex[:8],
                                    f"platform_20261202T000000Z_{uuid.uuid4().hex[:8]}", defects=defects)
    registry = yaml.safe_load(handle.registry_path.read_text())
    registry["platform"]["chaos_budgets"] = dict(BUDGET)
    handle.registry_path.write_text(yaml.safe_dump(registry, sort_keys=False, width=1000))
    handle.provision()
    return handle


def _scenarios() -> dict[str, Scenario]:
    return {s.id: s for s in load_dir(packaged_dir()).scenarios}


@dataclass(frozen=True)
class Run:
    result: ScenarioResult
    seconds: float
    history: History
    base_url: str  # where the driver sent
    registry_url: str  # the registry's IG_BASE_URL
    left_running: dict[str, int]

    def part(self, check_id: str) -> Verdict:
        return next(p for p in self.result.parts if p.check_id == check_id)


def _run(handle: launcher.PlatformHandle, scenario: Scenario) -> Run:
    """One instance as ``execute.run_instance`` runs it on a black box: a driver started for the instance's run id,
    the runner, and ``close`` (teardown) in a ``finally``."""
    history = History()
    began = time.monotonic()
    access = PlatformAccess.from_registry(str(handle.registry_path), handle.env())
    variant = scenario.for_target("local_parity", black_box=True)
    driver = BlackBoxDriver.started(access, f"{handle.run_id}-{scenario.instance_id(SEED)}", SEED, history)
    try:
        result = run_scenario(variant, SEED, driver)
    finally:
        driver.close()
    return Run(result, time.monotonic() - began, history, driver.client.base_url,
               str(access.registry.section("ig")["IG_BASE_URL"]), handle.alive())


@pytest.fixture(scope="module")
def runs(stack: SessionStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str | None], Run]]:
    root = tmp_path_factory.mktemp("black-box-chaos")
    scenarios = _scenarios()
    workloads()  # register every generator before the threads use them
    handles = {job: _platform(stack, root, (job[1],) if job[1] else ()) for job in JOBS}
    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            done = dict(zip(JOBS, pool.map(lambda job: _run(handles[job], scenarios[job[0]]), JOBS), strict=True))
        for (scenario_id, defect), run in sorted(done.items(), key=str):
            print(f"{scenario_id} {defect or 'clean'}: {run.result.verdict.status} in {run.seconds:.1f} s")
        yield done
    finally:
        for handle in handles.values():
            handle.kill_all()
            handle.destroy()


def _ingest_ops(history: History) -> list[Any]:
    return [op for op in history.operations() if op.f == "ingest"]


def test_the_replay_flood_passes_on_the_clean_platform(runs: dict[tuple[str, str | None], Run]) -> None:
    run = runs[("CH-REPLAY-FLOOD", None)]
    assert run.result.verdict.status is Status.PASS, run.result.verdict.reason
    for check_id in OBSERVED:
        part = run.part(check_id)
        assert part.status is Status.PASS and part.basis == "observed", part
    append_only = run.part("INV-APPEND-ONLY")
    assert append_only.status is Status.NOT_APPLICABLE and "write history" in append_only.reason
    figures = run.result.figures
    assert figures["anomalies"] >= 1 and figures["boundary_sends"] == 15 and figures["boundary_admitted"] == 0
    # The registry's budget scaled the 101,000-event flood down, and says so.
    assert figures["planned_events"] == 100_000 and figures["budget_max_events"] == BUDGET["max_events"]
    assert figures["budget_events"] <= BUDGET["max_events"] and figures["budget_requests_unsent"] == 0
    # The harness recorded every send: raced copies, wrong run, no key, wrong key.
    processes = {op.process for op in _ingest_ops(run.history)}
    assert {"client-1-race-3", "client-foreign", "client-none-key", "client-wrong-key"} <= processes
    sends = [op for op in _ingest_ops(run.history) if op.type != "invoke"]
    assert {op.value.get("status_code") for op in sends} >= {200, 401, 403, 409}
    assert run.base_url == run.registry_url and run.registry_url.startswith("http://127.0.0.1:")
    assert [op for op in run.history.operations() if op.f == "platform_command"][-1].value["name"] == "teardown"
    assert run.left_running == {}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_gate_defect_fails_its_observed_law(defect: str, runs: dict[tuple[str, str | None], Run]) -> None:
    run = runs[("CH-REPLAY-FLOOD", defect)]
    check_id, anomaly = DEFECTS[defect]
    part = run.part(check_id)
    assert part.status is Status.FAIL and part.basis == "observed", part
    assert anomaly in part.figures["anomalies"], part.figures  # the law's own finding, not a knock-on
    assert part.counterexample, part
    assert run.result.verdict.status is Status.FAIL
    assert run.left_running == {}


def test_the_gate_fuzz_passes_on_the_clean_platform(runs: dict[tuple[str, str | None], Run]) -> None:
    run = runs[("CH-OVERSIZE-FUZZ", None)]
    assert run.result.verdict.status is Status.PASS, run.result.verdict.reason
    cap = run.part("SEC-PAYLOAD-CAP")
    assert cap.status is Status.PASS and cap.basis == "observed", cap
    assert cap.figures["oversize"] >= 1 and cap.figures["statuses"].get("413", 0) == cap.figures["oversize"]
    lineage = run.part("SEC-LINEAGE-UUIDV7")
    assert lineage.status is Status.NOT_APPLICABLE and "lineage" in lineage.reason
    assert run.result.figures["fuzz_examples"] <= BUDGET["max_events"]
    assert run.left_running == {}


def test_the_runs_fit_their_budget(runs: dict[tuple[str, str | None], Run]) -> None:
    for job, run in runs.items():
        assert run.seconds < BUDGET["max_duration_s"], (job, run.seconds)
        assert not [op for op in run.history.operations() if op.f == "budget"], job


# -- whole pytest sessions ------------------------------------------------------------------------------------
def _session(pytester: pytest.Pytester, handle: launcher.PlatformHandle, *extra: str) -> tuple[Any, Path]:
    evidence = pytester.path / "reports"
    pytester._monkeypatch.setenv("SPINE_IG_API_KEY", handle.api_key)  # the key, as an operator exports it
    result = pytester.runpytest_subprocess("--spine-env=local_parity", f"--spine-handles={handle.registry_path}",
                                           f"--spine-run-id={handle.run_id}", f"--spine-evidence-dir={evidence}",
                                           "-p", "no:cacheprovider", "-k", "test_scenario", *extra, timeout=300)
    bundles = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(bundles) == 1, result.stdout.str()[-3000:]
    return result, bundles[0]


def _verdicts(bundle: Path) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}


def _bundle_ops(bundle: Path) -> list[dict[str, Any]]:
    ops = []
    for path in bundle.rglob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            ops.extend(json.loads(line) for line in lines if line.strip())
    return ops


def test_read_only_every_scenario_is_not_applicable_and_nothing_is_sent(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = _platform(stack, tmp_path)
    try:
        _, bundle = _session(pytester, handle)
        scenarios = {k: v for k, v in _verdicts(bundle).items() if v["kind"] == "scenario"}
        assert set(scenarios) == set(_scenarios())
        for verdict in scenarios.values():
            assert verdict["status"] == "NOT_APPLICABLE", verdict
            assert "read-only" in verdict["reason"] and "--spine-allow-destructive" in verdict["reason"], verdict
        assert not [op for op in _bundle_ops(bundle) if op.get("f") == "ingest"], "a read-only run sent traffic"
        assert handle.alive() == {}
    finally:
        handle.kill_all()
        handle.destroy()


def test_a_destructive_session_runs_the_traffic_scenarios_through_the_gate(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = _platform(stack, tmp_path)
    try:
        result, bundle = _session(pytester, handle, "--spine-allow-destructive", "--spine-scenario=CH-REPLAY-FLOOD",
                                  "--spine-scenario=CH-OVERSIZE-FUZZ")
        verdicts = _verdicts(bundle)
        assert verdicts["CH-REPLAY-FLOOD"]["status"] == "PASS", result.stdout.str()[-3000:]
        # Declared for reference only, it runs here by its black_box variant.
        assert verdicts["CH-OVERSIZE-FUZZ"]["status"] == "PASS", verdicts["CH-OVERSIZE-FUZZ"]
        stored = json.loads((bundle / "scenarios" / f"CH-REPLAY-FLOOD-seed={SEED}" / "result.json").read_text())
        laws = {c["id"]: c for c in stored["checks"]}
        assert all(laws[c]["basis"] == "observed" and laws[c]["status"] == "PASS" for c in OBSERVED), laws
        assert stored["figures"]["budget_max_events"] == BUDGET["max_events"]
        ops = _bundle_ops(bundle / "scenarios" / f"CH-REPLAY-FLOOD-seed={SEED}")
        sends = [op for op in ops if op.get("f") == "ingest"]
        run_ids = {op["value"].get("platform_run_id") for op in sends}
        instance_run = f"{handle.run_id}-CH-REPLAY-FLOOD-seed={SEED}"
        assert run_ids == {instance_run, f"{instance_run}-foreign"}  # the instance's own run, and the wrong-run sends
        commands = [op["value"]["name"] for op in ops if op.get("f") == "platform_command" and op["type"] == "invoke"]
        assert commands[0] == "start" and commands[-1] == "teardown"
        assert handle.alive() == {}  # the scenario tore its platform down
    finally:
        handle.kill_all()
        handle.destroy()
