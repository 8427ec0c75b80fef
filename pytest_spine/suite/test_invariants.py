"""The drift invariants (INV-*), checked over the run's history after the phase run, with the run's
evidence bundle. One item per invariant, ``test_invariant[INV-DEDUPE-IDENTITY]``."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.invariants.registry import CheckContext, get, iter_specs, run_checks

INVARIANTS = [spec.check_id for spec in iter_specs("invariant")]
# On a black box the platform records nothing into the harness's history: each law that reads its internal
# operations would pass on silence, so it is not applicable there, and these criteria judge it from observation.
OBSERVED_BY: dict[str, str] = {
    "INV-DEDUPE-IDENTITY": "P7-tuple_published_once, P7-dedupe_identity",
    "INV-PAYLOAD-ANOMALY": "P7-payload_anomaly, P7-quarantine_holds_payload",
    "INV-APPEND-ONLY": "P7-receipts_match_objects",
    "INV-STREAM-VIEW-FIRST": "P3-stream_view_rows_observed",
    "INV-READY-BEFORE-STREAM": "P5-ready_on_topic",
    "INV-COMMIT-AFTER-WRITE": "P8-lane_commits_match_outputs",
    "INV-IG-ONLY-PUBLISHER": "P7-traffic_in_run_scope",
    "INV-RUN-SCOPE": "P7-traffic_in_run_scope, P2-run_scope_enforced",
    "INV-NO-PUBLISH-AMBIGUITY": "P7-no_publish_ambiguity, P7-tuple_published_once",
    "INV-IDEMPOTENT-ACTIONS": "P9-actions_idempotent",
    "INV-RECEIPTS-RECONCILE": "P7-receipts_match_objects, P7-receipts_reconcile",
    "INV-REPLAY-ANCHORS": "P11-replay_anchors_on_broker, P11-replay_anchors_valid",
    "INV-HANDLES": "P0-topics_exist, P0-handles_resolvable",
}
# Laws whose bad path the phase run never walks: the drill that walks it runs first, so the law can fail.
EXERCISES: dict[str, tuple[str, ...]] = {"INV-READY-BEFORE-STREAM": ("stream_without_ready",)}
_CACHE: dict[int, dict[str, Any]] = {}


def _exercise(spine: Any) -> None:
    from pytest_spine.targets.base import ProbeNotSupported

    for check_id, probes in EXERCISES.items():
        if check_id not in INVARIANTS:
            continue
        for probe in probes:
            try:
                spine.target.probe(probe)
            except ProbeNotSupported:
                continue  # the law is then judged on what the run itself did
            except Exception as error:  # recorded: the history shows the drill could not run
                spine.history.record("harness", "info", "probe", name=probe, error=f"{type(error).__name__}: {error}")


def _context(spine: Any) -> CheckContext:
    from pytest_spine.evidence.contract import PHASE_FILES

    options: dict[str, Any] = {"run_scope_enforced": True}
    handles: frozenset[str] | None = None
    if spine.settings.handles is not None:
        from pytest_spine.handles import load_registry

        options["handles_registry"] = load_registry(spine.settings.handles)
    else:
        described = spine.target.describe()
        names = described.get("handle_names", described.get("handles"))
        if isinstance(names, list | tuple | set | frozenset):
            handles = frozenset(str(n) for n in names)
    return CheckContext(platform_run_id=spine.settings.platform_run_id, evidence=spine.bundle, handles=handles,
                        required_evidence=tuple(p for files in PHASE_FILES.values() for p in files),
                        options=options)


@pytest.mark.spine_invariant
@pytest.mark.xdist_group("spine-phases")
@pytest.mark.parametrize("check_id", INVARIANTS)
def test_invariant(spine: Any, check_id: str) -> None:
    if spine.settings.dry_run:
        pytest.skip("NOT_APPLICABLE: dry run, the target is not touched")
    spine.ensure_phases("P12")
    if spine.target.describe().get("black_box") and check_id != "INV-EVIDENCE-COMPLETE":
        from pytest_spine.verdicts import Status, Verdict

        spine.report(Verdict(check_id, "invariant", Status.NOT_APPLICABLE,
                             "this law reads the platform's internal operations, which a black box does not record "
                             "into the harness's history; here it is judged from observation by "
                             f"{OBSERVED_BY.get(check_id, 'the observed P-criteria')}"))
        return
    verdicts = _CACHE.setdefault(id(spine), {})
    if not verdicts:  # all invariants in one pass over the run's history
        _exercise(spine)
        ctx = _context(spine)
        specs = [get(i) for i in INVARIANTS]
        verdicts.update((v.check_id, v) for v in run_checks(spine.history.operations(), ctx, specs))
    spine.report(verdicts[check_id])
