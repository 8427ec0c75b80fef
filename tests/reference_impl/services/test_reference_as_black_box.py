"""The bundled reference verified as a black box: its gate, RTDL core and decision lane run as service
processes (``reference_impl.services.platform``), its reporter as a one-shot process, and the harness reaches
them only through the gate's HTTP, the topics, the consumer groups and the buckets, as it reaches a platform
it did not write. It reads none of the services' own history: its History holds only what the harness sent
and observed.

- A clean run is green read-only (the platform's own start/run/teardown, then the harness judges) and
  destructive (the harness drills the gate and drives the registry's commands); every evidence file the
  platform wrote validates against the evidence schemas.
- The same crashes the mutants need (a consumer SIGKILLed at a named place, restarted by its supervisor)
  leave a correct platform green.
- Each service mutant (``MUTANT_RUNS``) fails the check named for it in that check's own logic: a FAIL, not a
  BLOCKED knock-on, from what the harness observed.

Platform runs go three at a time; each instance has its own topics, groups and buckets.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.history import History
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.verdicts import Status, Verdict

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_platform as launcher

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "independent_platform"))
from phase_judge import judge_platform

pytestmark = [pytest.mark.services]
PARALLEL = 3  # platform runs at once: they mostly wait on the broker, the object store and each other's HTTP
SCHEMAS = launcher.ROOT / "pytest_spine" / "data" / "schemas" / "evidence"
GREEN = (Status.PASS, Status.NOT_APPLICABLE)


def _crash_rtdl(at_hit: int = 3) -> dict[str, Any]:
    """RTDL SIGKILLs itself just before the durable write of a decision input (its state put)."""
    return {"point": "rtdl.before_state_write", "match": {"kind": "decision_input"}, "at_hit": at_hit}


def _crash_before_publish(topic_key: str, at_hit: int) -> Any:
    """SIGKILL just before an append to ``topic_key`` (resolved against the instance's topic names)."""
    return lambda topics: {"point": "bus.produce.before_append", "match": {"topic": topics[topic_key]["name"]},
                           "at_hit": at_hit}


def _crash_after_publish(topic_key: str, at_hit: int) -> Any:
    """SIGKILL just after the broker acknowledged an append to ``topic_key``, before anything answers it."""
    return lambda topics: {"point": "bus.produce.after_append", "match": {"topic": topics[topic_key]["name"]},
                           "at_hit": at_hit}


@dataclass(frozen=True, eq=False)  # each run is its own key, by identity
class Run:
    """One platform run: its mutants, the crashes its daemons suffer, how the harness judges it, and the check
    that must fail (None: the run must be green)."""

    name: str
    destructive: bool = False
    mutations: tuple[str, ...] = ()
    crash: Mapping[str, Any] = field(default_factory=dict)  # daemon -> knob, or a function of the topic map
    check: str | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)


CLEAN_READ_ONLY = Run("clean")
CLEAN_DESTRUCTIVE = Run("clean", destructive=True)
# The crashes the consumer mutants need, on a correct platform: restarted, it loses nothing.
CRASH_CONTROL = Run("clean, RTDL and decision lane SIGKILLed mid-run",
                    crash={"rtdl": _crash_rtdl(), "decision_lane": _crash_before_publish("FP_BUS_AUDIT_V1", 3)})
MUTANT_RUNS: tuple[Run, ...] = (
    # RTDL commits each offset before its durable write, then dies before that write: the restarted consumer
    # resumes past a record it never wrote (lost write).
    Run("ack_before_write", mutations=("ack_before_write",), crash={"rtdl": _crash_rtdl()},
        check="P8-lane_commits_match_outputs"),
    # The decision lane's own mutant, the same way: committed, then dead before the audit record is published.
    Run("lane_ack_before_write", mutations=("lane_ack_before_write",),
        crash={"decision_lane": _crash_before_publish("FP_BUS_AUDIT_V1", 3)},
        check="P8-lane_commits_match_outputs"),
    # The gate dies after a publish, before it answers; restarted without rebuilding its dedupe table from the
    # bus, it admits the sender's resend and publishes the tuple twice.
    Run("restart_forgets_admissions", mutations=("restart_forgets_admissions",),
        crash={"ig": _crash_after_publish("FP_BUS_TRAFFIC_FRAUD_V1", 10)}, check="P7-tuple_published_once"),
    Run("restart_forgets_admissions", destructive=True, mutations=("restart_forgets_admissions",),
        crash={"ig": _crash_after_publish("FP_BUS_TRAFFIC_FRAUD_V1", 10)}, check="P7-tuple_published_once"),
    # The gate quarantines without keeping what it received.
    Run("quarantine_drops_payload", mutations=("quarantine_drops_payload",), check="P7-quarantine_holds_payload"),
    # The gate admits the same tuple with another payload: the run's own changed payload is published again,
    # and the harness's payload-change drill is answered ADMIT.
    Run("payload_overwrite", mutations=("payload_overwrite",), check="P7-tuple_published_once"),
    Run("payload_overwrite", destructive=True, mutations=("payload_overwrite",), check="P7-payload_anomaly"),
    # The gate admits another run's envelope: only the harness's wrong-run drill walks that path.
    Run("scope_not_enforced", destructive=True, mutations=("scope_not_enforced",), check="P2-run_scope_enforced"),
    # RTDL stops after half the traffic: its commits stay short of the run's inputs.
    Run("consumer_not_caught_up", mutations=("consumer_not_caught_up",), check="P8-lanes_caught_up_observed",
        timeouts={"stall_s": 6}),
    # Teardown leaves the RTDL core running: it is still its group's member afterwards.
    Run("daemon_left_running", mutations=("daemon_left_running",), check="P12-nothing_left_running"),
    # The reporter process writes no closure marker.
    Run("closure_marker_missing", mutations=("closure_marker_missing",), check="P11-closure_marker"),
)
# Checks the harness judges from what the platform attests (no substrate shows them).
ATTESTED = {"P11-closure_marker"}
RUNS: tuple[Run, ...] = (CLEAN_READ_ONLY, CLEAN_DESTRUCTIVE, CRASH_CONTROL, *MUTANT_RUNS)

def judge(handle: launcher.PlatformHandle, *, destructive: bool) -> tuple[dict[str, Verdict], History]:
    """The phase machine over the platform, in-process: what a pytest session's gate items decide."""
    return judge_platform(handle.registry_path, handle.run_id, handle.workdir, destructive=destructive,
                          environ=handle.env())


@dataclass
class Outcome:
    run: Run
    handle: launcher.PlatformHandle
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    history: History = field(default_factory=History)
    evidence: dict[str, Any] = field(default_factory=dict)
    unbridged: dict[str, Verdict] | None = None
    left_running: list[int] = field(default_factory=list)
    crashed: set[str] = field(default_factory=set)  # daemons that SIGKILLed themselves at their crash point
    error: str | None = None  # the run could not be made or judged (its tests fail with it)

    def judged(self) -> Outcome:
        assert self.error is None, self.error
        return self


def _run_id() -> str:
    return f"platform_20261202T000000Z_{uuid.uuid4().hex[:8]}"


def _evidence(handle: launcher.PlatformHandle) -> dict[str, Any]:
    """relpath -> document, for every object under the run's evidence prefix."""
    from reference_impl.adapters.s3_store import S3ObjectStore

    cfg = handle.config()
    bucket = cfg["buckets"]["S3_EVIDENCE_BUCKET"]
    prefix = cfg["prefixes"]["S3_EVIDENCE_PREFIX_PATTERN"].format(platform_run_id=handle.run_id)
    store = S3ObjectStore(endpoint_url=handle.s3_endpoint_url, timeout_s=10.0,
                          client_kwargs={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    return {key[len(prefix):]: json.loads(store.get(bucket, key)) for key in store.list(bucket, prefix)}


def _execute(stack: SessionStack, root: Path, run: Run) -> Outcome:
    suffix = launcher.new_suffix()
    topics = launcher.topics_for(suffix)
    crash = {daemon: knob(topics) if callable(knob) else knob for daemon, knob in run.crash.items()}
    handle = launcher.make_platform(Path(stack.state.stack_dir), root / suffix, _run_id(), mutations=run.mutations,
                                    crash=crash, name_suffix=suffix, timeouts=run.timeouts)
    try:
        handle.provision()
        if run.destructive:
            verdicts, history = judge(handle, destructive=True)
        else:
            handle.start()
            handle.run(check=run.check is None)  # a mutant's own run may stop short: the harness judges that
            handle.teardown(check=run.check is None)  # daemon_left_running leaves RTDL behind on purpose
            verdicts, history = judge(handle, destructive=False)
        unbridged = None
        left = handle.alive()
        crashed = {d for d in run.crash if (handle.state_dir / "services" / f"{d}.crashed.json").exists()}
        return Outcome(run, handle, verdicts, history, _evidence(handle), unbridged, left, crashed)
    except Exception as error:  # one broken run fails its own tests, not the others'
        return Outcome(run, handle, error=f"{type(error).__name__}: {error}; state in {handle.state_dir}")
    finally:
        handle.kill_all()
        handle.destroy()


@pytest.fixture(scope="module", autouse=True)
def aws_credentials() -> Iterator[None]:
    """The harness finds S3 credentials in the normal AWS chain (the loopback server accepts any)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def outcomes(local_stack: SessionStack, tmp_path_factory: pytest.TempPathFactory) -> dict[Run, Outcome]:
    root = tmp_path_factory.mktemp("black-box")
    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(RUNS, pool.map(lambda run: _execute(local_stack, root, run), RUNS), strict=True))


def _not_green(verdicts: Mapping[str, Verdict]) -> dict[str, str]:
    return {c: f"{v.status.name}: {v.reason[:300]}" for c, v in verdicts.items() if v.status not in GREEN}


def _schema_problems(evidence: Mapping[str, Any], run_id: str) -> dict[str, str]:
    from jsonschema import Draft202012Validator

    from pytest_spine.evidence.contract import PHASE_FILES

    problems: dict[str, str] = {}
    expected = {f for files in PHASE_FILES.values() for f in files}
    for relpath in sorted(expected - set(evidence)):
        problems[relpath] = "missing"
    for relpath, document in sorted(evidence.items()):
        path = SCHEMAS / f"{relpath.removesuffix('.json').replace('/', '__')}.schema.json"
        if relpath not in expected or not path.exists():
            problems[relpath] = "not a contract evidence file"
            continue
        errors = list(Draft202012Validator(json.loads(path.read_text())).iter_errors(document))
        if errors:
            problems[relpath] = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:3])
        elif document.get("platform_run_id") != run_id:
            problems[relpath] = f"platform_run_id {document.get('platform_run_id')!r}"
    return problems


def _harness_processes(history: History) -> set[str]:
    return {op.process for op in history.operations()}


# -- a clean run ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", [CLEAN_READ_ONLY, CLEAN_DESTRUCTIVE, CRASH_CONTROL],
                         ids=["read_only", "destructive", "crash_control"])
def test_a_clean_run_is_green(run: Run, outcomes: dict[Run, Outcome]) -> None:
    outcome = outcomes[run].judged()
    assert not _not_green(outcome.verdicts), _not_green(outcome.verdicts)
    observed = [c for c, v in outcome.verdicts.items() if v.status is Status.PASS and v.basis == "observed"]
    assert len(observed) >= 12, observed
    assert not _schema_problems(outcome.evidence, outcome.handle.run_id)
    assert not outcome.left_running, f"processes left after teardown: {outcome.left_running}"
    assert outcome.crashed == set(run.crash)  # the crashes happened, and the restarted daemons recovered


@pytest.mark.parametrize("run", [CLEAN_READ_ONLY, CLEAN_DESTRUCTIVE], ids=["read_only", "destructive"])
def test_the_harness_history_holds_nothing_the_platform_recorded(run: Run, outcomes: dict[Run, Outcome]) -> None:
    history = outcomes[run].judged().history
    processes = _harness_processes(history)
    assert processes and all(p.startswith("harness") or p == "observer" for p in processes), processes
    ops = history.operations()
    assert [op for op in ops if op.process == "observer" and op.f == "topic_record"]
    sends = [op for op in ops if op.f == "ingest"]
    if run.destructive:
        assert {op.type for op in sends} >= {"invoke", "ok", "fail"}  # admitted, and refused drills
        commands = [op.value["name"] for op in ops if op.f == "platform_command" and op.type == "ok"]
        assert commands == ["start", "run", "teardown"]
    else:
        assert not sends, "a read-only verification sent traffic"


def test_degrades_are_judged_as_attested_on_a_black_box(outcomes: dict[Run, Outcome]) -> None:
    outcome = outcomes[CLEAN_READ_ONLY]
    degrades = outcome.evidence["rtdl_core/caught_up.json"]["degrade_counts"]
    assert degrades, "the reference's world has flows without context: RTDL degrades explicitly"
    verdict = outcome.judged().verdicts["P8-degrade_recorded"]
    assert verdict.status is Status.PASS and verdict.basis == "attested", verdict


# -- the services' mutants ------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", MUTANT_RUNS,
                         ids=[f"{r.name}-{'destructive' if r.destructive else 'read_only'}" for r in MUTANT_RUNS])
def test_each_service_mutant_fails_its_check_in_its_own_logic(run: Run, outcomes: dict[Run, Outcome]) -> None:
    assert run.check is not None
    verdict = outcomes[run].judged().verdicts[run.check]
    assert verdict.status is Status.FAIL, (run.name, verdict)
    assert not verdict.reason.startswith("upstream phase"), verdict.reason  # not a knock-on BLOCKED
    assert "did not complete" not in verdict.reason or run.check == "P11-closure_marker", verdict.reason
    assert verdict.basis == ("attested" if run.check in ATTESTED else "observed"), verdict
    assert outcomes[run].crashed == set(run.crash)  # the crash the mutant needs happened
    if os.environ.get("SPINE_SHOW_VERDICTS"):
        print(f"\n{run.name} ({'destructive' if run.destructive else 'read-only'}): {run.check} {verdict.reason}")
        print("   also failing:", sorted(c for c, v in outcomes[run].verdicts.items() if v.status is Status.FAIL))
