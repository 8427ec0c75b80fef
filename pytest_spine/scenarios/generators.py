"""The built-in workload generators of the chaos scenarios (CH-REPLAY-FLOOD, CH-PUBLISH-AMBIGUITY,
CH-CONSUMER-CRASH-BEFORE-COMMIT, CH-LATE-CONTEXT, CH-CONCURRENT-REPORTERS).

Each yields its progress so faults start and stop on schedule, and returns the figures it measured.
Figures are counted from what the target answered and recorded, never assumed.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from typing import Any, cast

from pytest_spine.scenarios.driver import ChaosDriver, GateClientDriver, KeyChoice
from pytest_spine.scenarios.workloads import Figures, Param, workload

_REJECTED = frozenset({"DUPLICATE", "ANOMALY", "QUARANTINE"})


def _every(total: int) -> int:
    """Report progress about a hundred times per workload."""
    return max(1, total // 100)


@workload("replay_flood", params={
    "events": Param(int, 1000, 1, 10_000_000, "distinct events admitted first"),
    "replays": Param(int, 100_000, 0, 100_000_000, "replays of those events"),
    "payload_mutation_ratio": Param(float, 0.0, 0.0, 1.0, "share of replays with a changed payload (evenly spread)"),
    # Traffic the gate must refuse, spread through the replays: another run's id (any driver can send it), and,
    # from a client of the gate's HTTP contract, no key and a wrong key. Small fixed counts, never scaled.
    "wrong_run_sends": Param(int, 0, 0, 100_000, "events of another run id (the gate must refuse them)",
                             scaled=False),
    "no_key_sends": Param(int, 0, 0, 100_000, "events sent without the gate's key", scaled=False,
                          needs="gate_client"),
    "wrong_key_sends": Param(int, 0, 0, 100_000, "events sent with a wrong key", scaled=False, needs="gate_client"),
}, figures=("replay_rejection_ratio", "double_admits", "replays", "anomalies", "admitted", "unknown_outcomes",
            "events_per_second", "boundary_sends", "boundary_admitted"))
def replay_flood(driver: ChaosDriver, params: Mapping[str, Any],
                 rng: random.Random) -> Generator[float, None, Figures]:
    """Admit N events, then replay them M times (some with a changed payload), with the gate's boundary traffic
    (wrong run, no key, wrong key) spread among the replays."""
    events, replays = int(params["events"]), int(params["replays"])
    mutation = float(params["payload_mutation_ratio"])
    boundary = _boundary_sends(driver, params)
    boundary_at = _spread(len(boundary), replays)
    boundary_admitted = 0
    total = events + replays
    step = _every(total)
    sent: list[dict[str, Any]] = []
    admitted = unknown = 0
    started = time.perf_counter()
    for number in range(events):
        envelope = driver.envelope(f"flood-{number}")
        outcome = driver.ingest(envelope, "client-1")
        admitted += outcome == "ADMIT"
        unknown += outcome is None
        sent.append(envelope)
        if number % step == 0:
            yield number / total
    rejected = double_admits = anomalies = 0
    random_index = rng.randrange
    mutated = _mutated(replays, mutation)
    for number in range(replays):
        for send in boundary_at.get(number, ()):
            boundary_admitted += boundary[send]() is not None
        envelope = sent[random_index(len(sent))]
        if number in mutated:
            envelope = {**envelope, "payload": {**envelope["payload"], "amount_minor": -number - 1}}
        outcome = driver.ingest(envelope, "client-2")
        if outcome in _REJECTED:
            rejected += 1
            anomalies += outcome == "ANOMALY"
        elif outcome == "ADMIT":
            double_admits += 1
        else:
            unknown += 1
        if number % step == 0:
            yield (events + number) / total
    for send in boundary_at.get(replays, ()):  # with no replays, the boundary traffic comes after the events
        boundary_admitted += boundary[send]() is not None
    elapsed = time.perf_counter() - started
    return {"replay_rejection_ratio": rejected / replays if replays else 1.0, "double_admits": double_admits,
            "replays": replays, "anomalies": anomalies, "admitted": admitted, "unknown_outcomes": unknown,
            "events_per_second": round(total / elapsed, 1) if elapsed else 0.0,
            "boundary_sends": len(boundary), "boundary_admitted": boundary_admitted}


def _mutated(replays: int, ratio: float) -> frozenset[int]:
    """The replays that change their payload: exactly the ratio's share, evenly spread, and at least one whenever the
    ratio asks for any (a flood scaled down to a budget still walks the payload-change path)."""
    chosen = {n for n in range(replays) if int((n + 1) * ratio) > int(n * ratio)}
    if ratio > 0 and replays and not chosen:
        chosen.add(replays // 2)
    return frozenset(chosen)


def _boundary_sends(driver: ChaosDriver, params: Mapping[str, Any]) -> list[Callable[[], str | None]]:
    """One callable per refused-by-contract send; each returns the outcome the gate gave (None = refused or
    unknown). Fresh event ids, so a refusal is never confused with a dedupe answer."""
    sends: list[Callable[[], str | None]] = []
    foreign_run = f"{driver.platform_run_id}-foreign"
    for number in range(int(params["wrong_run_sends"])):
        sends.append(functools.partial(driver.ingest, driver.envelope(f"wrong-run-{number}",
                                                                      platform_run_id=foreign_run), "client-foreign"))
    client = cast(GateClientDriver, driver)

    def keyed(envelope: Mapping[str, Any], key: KeyChoice) -> str | None:
        return client.send(envelope, key=key, process=f"client-{key}-key", drill=f"{key}_key").outcome

    for key, count in (("none", int(params["no_key_sends"])), ("wrong", int(params["wrong_key_sends"]))):
        choice = cast(KeyChoice, key)
        sends.extend(functools.partial(keyed, driver.envelope(f"{key}-key-{number}"), choice)
                     for number in range(count))
    return sends


def _spread(count: int, slots: int) -> dict[int, list[int]]:
    """Positions (0..slots) at which ``count`` sends go, evenly: send n before replay number ``at[n]``."""
    at: dict[int, list[int]] = {}
    for number in range(count):
        at.setdefault((number * slots) // count if count else 0, []).append(number)
    return at


@workload("publish_ambiguity", params={
    "events": Param(int, 40, 1, 1_000_000, "events sent while the broker may stop acknowledging"),
    "resend_ambiguous": Param(bool, True, doc="send every event again afterwards (resolves the ambiguity)"),
}, figures=("publish_ambiguous", "admitted", "resent", "double_admits"))
def publish_ambiguity(driver: ChaosDriver, params: Mapping[str, Any],
                      rng: random.Random) -> Generator[float, None, Figures]:
    """Send events while acknowledgements are lost after the broker appended."""
    events = int(params["events"])
    outcomes: dict[str, str | None] = {}
    envelopes: list[dict[str, Any]] = []
    for number in range(events):
        envelope = driver.envelope(f"ambiguity-{number}")
        outcomes[envelope["event_id"]] = driver.ingest(envelope, "client-1")
        envelopes.append(envelope)
        yield (number + 1) / (events + 1)
    ambiguous = [e for e in envelopes if outcomes[e["event_id"]] == "PUBLISH_AMBIGUOUS"]
    admits = Counter(event_id for event_id, outcome in outcomes.items() if outcome == "ADMIT")
    if params["resend_ambiguous"]:
        # Resending resolves the ambiguity; every event may still be answered ADMIT at most once.
        for envelope in envelopes:
            if driver.ingest(envelope, "client-1") == "ADMIT":
                admits[envelope["event_id"]] += 1
    return {"publish_ambiguous": len(ambiguous), "admitted": len(admits),
            "resent": len(envelopes) if params["resend_ambiguous"] else 0,
            "double_admits": sum(1 for count in admits.values() if count > 1)}


def _send_flow(driver: ChaosDriver, flow: str, *, context: bool, traffic: bool) -> str | None:
    if context:
        for number in range(3):
            driver.ingest(driver.envelope(f"{flow}-ctx{number}", event_class=f"context:{number}", flow_id=flow),
                          "client-1")
    if traffic:
        return driver.ingest(driver.envelope(f"{flow}-tx", flow_id=flow), "client-1")
    return None


@workload("consumer_crash", params={
    "flows": Param(int, 60, 1, 1_000_000, "flows (context + traffic) to ingest"),
    "max_restarts": Param(int, 5, 1, 100, "restarts allowed before the consumer counts as dead", scaled=False),
}, figures=("admitted_traffic", "consumer_crashes", "lost_events", "max_executions_per_action"),
    needs=("ingest", "consume", "restart_consumer"))
def consumer_crash(driver: ChaosDriver, params: Mapping[str, Any],
                   rng: random.Random) -> Generator[float, None, Figures]:
    """Ingest flows, then consume while the consumer may crash before committing; restart it each time."""
    flows = int(params["flows"])
    admitted: list[str] = []
    for number in range(flows):
        flow = f"crash-flow-{number}"
        if _send_flow(driver, flow, context=True, traffic=True) == "ADMIT":
            admitted.append(f"{flow}-tx")
        if number % _every(flows) == 0:
            yield 0.5 * number / flows
    yield 0.5
    crashes = 0
    for _ in range(int(params["max_restarts"]) + 1):
        try:
            driver.consume()
            break
        except Exception as crash:  # the consumer died mid-batch: restart it, as an orchestrator would
            crashes += 1
            driver.history.record("nemesis", "info", "consumer_crash", error=f"{type(crash).__name__}: {crash}")
            driver.restart_consumer()
        yield 0.5 + 0.1 * crashes
    driver.consume()
    durable = driver.downstream()
    inputs = durable["decision_inputs"]
    lost = sum(1 for event_id in admitted if event_id not in inputs)
    return {"admitted_traffic": len(admitted), "consumer_crashes": crashes, "lost_events": lost,
            "max_executions_per_action": int(durable["max_executions_per_action"])}


@workload("late_context", params={
    "flows": Param(int, 80, 1, 1_000_000, "flows to ingest"),
    "late_ratio": Param(float, 0.25, 0.0, 1.0, "share of flows whose context arrives after the traffic"),
}, figures=("late_flows", "degraded_late", "silent_defaults", "explicit_degrade_ratio"),
    needs=("ingest", "consume"))
def late_context(driver: ChaosDriver, params: Mapping[str, Any],
                 rng: random.Random) -> Generator[float, None, Figures]:
    """Traffic whose context arrives late must be degraded explicitly, with a reason."""
    flows = int(params["flows"])
    late: list[str] = []
    for number in range(flows):
        flow = f"late-flow-{number}"
        is_late = rng.random() < float(params["late_ratio"])
        if is_late:
            late.append(flow)
        _send_flow(driver, flow, context=not is_late, traffic=True)
        if number % _every(flows) == 0:
            yield 0.6 * number / flows
    driver.consume()
    yield 0.7
    for flow in late:
        _send_flow(driver, flow, context=True, traffic=False)
    driver.consume()
    late_events = {f"{flow}-tx" for flow in late}
    degraded: set[Any] = set()
    for op in driver.history.operations():
        if op.f == "degrade" and op.type == "ok" and op.value.get("reason"):
            degraded.add(op.value.get("event_id"))
    degraded_late = len(late_events & degraded)
    return {"late_flows": len(late), "degraded_late": degraded_late,
            "silent_defaults": len(late_events - degraded),
            "explicit_degrade_ratio": degraded_late / len(late_events) if late_events else 1.0}


@workload("concurrent_reporters", params={
    "reporters": Param(int, 4, 2, 64, "reporters racing to close the run"),
    "events": Param(int, 20, 0, 100_000, "events ingested before the close-out"),
}, figures=("closure_writers", "lock_refusals", "reporter_errors"), needs=("ingest", "close_run"))
def concurrent_reporters(driver: ChaosDriver, params: Mapping[str, Any],
                         rng: random.Random) -> Generator[float, None, Figures]:
    """Several reporters close the same run at once: exactly one may write the closure."""
    events = int(params["events"])
    for number in range(events):
        driver.ingest(driver.envelope(f"close-{number}"), "client-1")
    yield 0.5
    result = driver.close_run(int(params["reporters"]))
    yield 0.9
    return {"closure_writers": len(result["written"]), "lock_refusals": len(result["refused"]),
            "reporter_errors": len(result["errors"])}
