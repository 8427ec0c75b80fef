"""The harness verifies a platform it did not write: ``tests/independent_platform/miniplat`` (its own code,
no ``reference_impl``), started as processes on the loopback stack, reached only through its gate, topics,
groups and buckets.

- A clean run is Go and Spine Green through whole pytest sessions: read-only on local_parity, destructive on
  local_parity (the harness drills the gate and runs the platform's declared commands), and read-only with the
  stack posing as dev_min.
- Each defect of the platform fails the check ``defect_table.DEFECTS`` names for it, in that check's own
  logic (a FAIL, not a BLOCKED knock-on), read-only and, for ``DESTRUCTIVE_RUNS``, destructive.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.evidence.verify import verify_bundle
from pytest_spine.history import History
from pytest_spine.stack.fixture import SessionStack, services_stack_dir, session_stack
from pytest_spine.targets import create_target
from pytest_spine.targets.base import RunSpec
from pytest_spine.verdicts import Status, Verdict

PLATFORM_DIR = Path(__file__).resolve().parents[2] / "independent_platform"
sys.path.insert(0, str(PLATFORM_DIR))
import launcher  # noqa: E402
from defect_table import DEFECTS, DESTRUCTIVE_RUNS  # noqa: E402
from phase_judge import judge_platform  # noqa: E402

pytestmark = [pytest.mark.services]
PARALLEL = 4  # platform runs at once: they mostly wait on the broker and on each other's HTTP


@pytest.fixture(scope="module")
def stack(pytestconfig: pytest.Config) -> Iterator[SessionStack]:
    directory = services_stack_dir(pytestconfig.rootpath)
    with session_stack("native", stack_dir=directory, services=("kafka", "s3")) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def aws_credentials() -> Iterator[None]:
    """The harness finds S3 credentials in the normal AWS chain (moto accepts any)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(key, value)
        yield


def _run_id() -> str:
    return f"platform_20261202T000000Z_{uuid.uuid4().hex[:8]}"


def judge(handle: launcher.PlatformHandle, *, destructive: bool, env: str = "local_parity",
          registry: Path | None = None) -> dict[str, Verdict]:
    """The phase machine over the platform, in-process: what a pytest session's gate items decide."""
    return judge_platform(registry or handle.registry_path, handle.run_id, handle.workdir, destructive=destructive,
                          environ=handle.env(), env=env)[0]


def platform(stack: SessionStack, root: Path, defects: tuple[str, ...] = ()) -> launcher.PlatformHandle:
    handle = launcher.make_platform(Path(stack.state.stack_dir), root / uuid.uuid4().hex[:8], _run_id(),
                                    defects=defects)
    handle.provision()
    return handle


def _read_only_run(handle: launcher.PlatformHandle) -> dict[str, Verdict]:
    handle.start()
    handle.run()
    handle.teardown(check=False)  # teardown_early leaves a lane behind on purpose: the check must see it
    return judge(handle, destructive=False)


@pytest.fixture(scope="module")
def defect_runs(stack: SessionStack, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[tuple[str, bool], dict[str, Verdict]]]:
    """Every defect once read-only and the chosen ones destructive, several platforms at a time."""
    root = tmp_path_factory.mktemp("defects")
    jobs = [(name, False) for name, (read_only, _) in DEFECTS.items() if read_only] + \
        [(name, True) for name in DESTRUCTIVE_RUNS]
    handles = {job: platform(stack, root, (job[0],)) for job in jobs}

    def run(job: tuple[str, bool]) -> dict[str, Verdict]:
        handle = handles[job]
        return judge(handle, destructive=True) if job[1] else _read_only_run(handle)

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = dict(zip(jobs, pool.map(run, jobs), strict=True))
        yield results
    finally:
        for handle in handles.values():
            handle.kill_all()
            handle.destroy()


def _assert_killed_in_own_logic(verdicts: dict[str, Verdict], check_id: str, defect: str) -> None:
    verdict = verdicts[check_id]
    assert verdict.status is Status.FAIL, (defect, check_id, verdict)
    assert not verdict.reason.startswith("upstream phase"), verdict.reason  # not a knock-on BLOCKED
    assert "did not complete" not in verdict.reason or check_id == "P11-closure_marker", verdict.reason
    failing = sorted(c for c, v in verdicts.items() if v.status is Status.FAIL)
    assert failing, defect


@pytest.mark.parametrize("defect", [d for d, (ro, _) in DEFECTS.items() if ro])
def test_each_defect_fails_its_check_read_only(defect: str,
                                               defect_runs: dict[tuple[str, bool], dict[str, Verdict]]) -> None:
    _assert_killed_in_own_logic(defect_runs[(defect, False)], str(DEFECTS[defect][0]), defect)


@pytest.mark.parametrize("defect", DESTRUCTIVE_RUNS)
def test_each_defect_fails_its_check_destructive(defect: str,
                                                 defect_runs: dict[tuple[str, bool], dict[str, Verdict]]) -> None:
    _assert_killed_in_own_logic(defect_runs[(defect, True)], str(DEFECTS[defect][1]), defect)


def test_a_read_only_verification_cannot_see_a_drill_only_defect(
        defect_runs: dict[tuple[str, bool], dict[str, Verdict]]) -> None:
    blind = [d for d, (ro, _) in DEFECTS.items() if ro is None]
    assert blind == ["scope_open"]  # its path is walked only by the harness's wrong-run drill
    destructive = defect_runs[("scope_open", True)]["P2-run_scope_enforced"]
    assert destructive.status is Status.FAIL and destructive.basis == "observed", destructive


# -- whole pytest sessions ------------------------------------------------------------------------------------
def _session(pytester: pytest.Pytester, handle: launcher.PlatformHandle, env: str, registry: Path,
             *extra: str) -> tuple[Any, Path]:
    evidence = pytester.path / "reports"
    for key, value in handle.env().items():
        if key.startswith(("SPINE_IG_API_KEY", "MINIPLAT_")):
            pytester._monkeypatch.setenv(key, value)  # the session's key, as an operator exports it
    result = pytester.runpytest_subprocess(f"--spine-env={env}", f"--spine-handles={registry}",
                                           f"--spine-run-id={handle.run_id}", f"--spine-evidence-dir={evidence}",
                                           "-p", "no:cacheprovider", *extra, timeout=600)
    runs = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(runs) == 1, result.stdout.str()[-3000:]
    return result, runs[0]


def _green(result: Any, bundle: Path) -> dict[str, dict[str, Any]]:
    output = result.stdout.str()
    assert result.ret == 0, output[-4000:]
    result.stdout.fnmatch_lines(["*Spine Green v0: YES*", "*Gate decision: Go*"])
    assert verify_bundle(bundle).ok
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert not [v for v in verdicts.values() if v["status"] in ("FAIL", "BLOCKED", "UNKNOWN")]
    return verdicts


def test_a_clean_platform_is_green_read_only_and_nothing_is_sent_to_it(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = platform(stack, tmp_path)
    try:
        handle.start(); handle.run(); handle.teardown()  # noqa: E702 - the platform's own run, before the harness
        result, bundle = _session(pytester, handle, "local_parity", handle.registry_path)
        verdicts = _green(result, bundle)
        observed = [v for v in verdicts.values() if v.get("basis") == "observed" and v["status"] == "PASS"]
        assert len(observed) >= 10, sorted(verdicts)
        history = (bundle / "history").iterdir()
        assert history  # the harness's own record: observations only, read-only sends nothing
        ops = _ops(bundle)
        assert not [op for op in ops if op["f"] == "ingest"], "a read-only run sent traffic"
        assert [op for op in ops if op["f"] == "topic_record"]
        result.stdout.fnmatch_lines(["*Basis of the judged checks: observed *"])
    finally:
        handle.kill_all()
        handle.destroy()


def test_a_clean_platform_is_green_when_the_harness_drives_it(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = platform(stack, tmp_path)
    try:
        result, bundle = _session(pytester, handle, "local_parity", handle.registry_path,
                                  "--spine-allow-destructive")
        verdicts = _green(result, bundle)
        assert verdicts["P4-writer_boundary_enforced"]["basis"] == "observed"
        ops = _ops(bundle)
        sends = [op for op in ops if op["f"] == "ingest"]
        assert {op["type"] for op in sends} >= {"invoke", "ok", "fail"}  # admitted, and refused drills
        commands = [op["value"]["name"] for op in ops if op["f"] == "platform_command" and op["type"] == "ok"]
        assert commands == ["start", "run", "teardown"]
        assert handle.api_key not in (bundle / "history").joinpath(*_history_file(bundle)).read_bytes().decode(
            errors="replace")
    finally:
        handle.kill_all()
        handle.destroy()


def test_the_harness_as_the_traffic_source_streams_the_run_and_is_green(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = launcher.make_platform(Path(stack.state.stack_dir), tmp_path / "h", _run_id(), traffic_source="harness")
    handle.provision()
    try:
        result, bundle = _session(pytester, handle, "local_parity", handle.registry_path,
                                  "--spine-allow-destructive", "-m", "spine_gate")  # the chaos is judged above
        verdicts = _green(result, bundle)
        assert verdicts["P6-streaming_completed"]["status"] == "PASS"
        summary = json.loads((bundle / "wsp" / "wsp_summary.json").read_text())
        assert summary["streamed_by"] == "harness" and summary["source"] == "stream_view"
        sent = [op for op in _ops(bundle) if op["f"] == "ingest" and op["process"] == "harness-wsp"]
        assert len([op for op in sent if op["type"] == "invoke"]) == summary["totals"]["attempted"] > 0
        commands = [op["value"]["name"] for op in _ops(bundle) if op["f"] == "platform_command" and op["type"] == "ok"]
        assert commands == ["start", "run", "close", "teardown"]
    finally:
        handle.kill_all()
        handle.destroy()


def test_the_loopback_stack_posing_as_dev_min_is_green_read_only(
        stack: SessionStack, pytester: pytest.Pytester, tmp_path: Path) -> None:
    handle = platform(stack, tmp_path)
    try:
        handle.start(); handle.run(); handle.teardown()  # noqa: E702
        document = yaml.safe_load(handle.registry_path.read_text())
        document["environment"] = "dev_min"
        registry = tmp_path / "dev_min.yaml"
        registry.write_text(yaml.safe_dump(document))
        result, bundle = _session(pytester, handle, "dev_min", registry, "-m", "spine_gate or spine_invariant")
        verdicts = _green(result, bundle)
        assert verdicts["P7-tuple_published_once"]["status"] == "PASS"
        assert verdicts["P7-tuple_published_once"]["basis"] == "observed"
        assert verdicts["P0-topics_exist"]["basis"] == "observed"  # the live broker, as the harness read it
        assert not [op for op in _ops(bundle) if op["f"] == "ingest"], "a read-only dev_min run sent traffic"
    finally:
        handle.kill_all()
        handle.destroy()


def test_evidence_of_another_run_or_malformed_is_refused_not_restamped(stack: SessionStack, tmp_path: Path) -> None:
    import boto3

    handle = platform(stack, tmp_path)
    try:
        handle.start(); handle.run(); handle.teardown()  # noqa: E702
        registry = handle.registry()
        bucket = registry.bucket("S3_EVIDENCE_BUCKET")
        key = registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=handle.run_id) + "run_completed.json"
        s3 = boto3.client("s3", endpoint_url=handle.s3_endpoint_url, region_name="us-east-1")
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        s3.delete_object(Bucket=bucket, Key=key)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({**document, "platform_run_id": "platform_other"}))
        garbled = key.replace("run_completed.json", "run_report.json")
        s3.delete_object(Bucket=bucket, Key=garbled)
        s3.put_object(Bucket=bucket, Key=garbled, Body=b'{"status": "GREEN", "status": "RED"')  # cut, doubled key
        verdicts = judge(handle, destructive=False)
        assert verdicts["P1-evidence_of_this_run"].status is Status.FAIL
        assert "platform_other" in verdicts["P1-evidence_of_this_run"].reason
        assert "run_report.json" in verdicts["P1-evidence_of_this_run"].reason
        closure = verdicts["P11-closure_marker"]  # the file it needs was refused, and P1 already failed
        assert closure.status is Status.BLOCKED and "P1-evidence_of_this_run" in closure.reason, closure
        bundles = list(handle.workdir.glob(f"reports-False-*/evidence/runs/{handle.run_id}/run.json"))
        assert bundles and not (bundles[0].parent / "run_completed.json").exists()
    finally:
        handle.kill_all()
        handle.destroy()


def test_an_unreachable_gate_and_a_wrong_key_are_one_clear_failure(stack: SessionStack, tmp_path: Path) -> None:
    handle = platform(stack, tmp_path)
    try:
        document = yaml.safe_load(handle.registry_path.read_text())
        document["platform"]["commands"] = {}  # nothing starts the gate
        document["platform"]["timeouts"] = {"request_s": 0.5, "settle_s": 1}
        registry = tmp_path / "no-gate.yaml"
        registry.write_text(yaml.safe_dump(document))
        verdicts = judge(handle, destructive=True, registry=registry)
        p0 = [v for c, v in verdicts.items() if c.startswith("P0-") and v.status is Status.FAIL]
        assert p0 and "IG_BASE_URL" in p0[0].reason and "did not answer its health check" in p0[0].reason, p0
        handle.start()
        wrong = dict(handle.env(), SPINE_IG_API_KEY="not-the-key")
        bundle = EvidenceBundle.create(tmp_path / "wrong-key", handle.run_id)
        target = create_target("local_parity", handles=str(registry), environ=wrong)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SPINE_IG_API_KEY", "not-the-key")
            target.start(RunSpec(handle.run_id, seed=1, allow_destructive=True), bundle, History())
            try:
                outcome = target.run_phase("P0")
            finally:
                target.stop()
        assert not outcome.completed and "refused the harness's key" in str(outcome.error), outcome
        assert "not-the-key" not in str(outcome.error)
    finally:
        handle.kill_all()
        handle.destroy()


def _history_file(bundle: Path) -> list[str]:
    return sorted(p.name for p in (bundle / "history").iterdir() if p.name.endswith(".jsonl.gz"))[:1]


def _ops(bundle: Path) -> list[dict[str, Any]]:
    import gzip

    ops: list[dict[str, Any]] = []
    for name in _history_file(bundle):
        with gzip.open(bundle / "history" / name, "rt") as lines:
            ops += [json.loads(line) for line in lines]
    return ops
