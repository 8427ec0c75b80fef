"""The defect switches: realistic bugs a platform team could ship, enabled by the config's ``defects`` list.

The correct code path reads this set and nothing else; each defect's code sits where the bug would live.
"""

from __future__ import annotations

from collections.abc import Iterable

KNOWN = frozenset({
    "receipts_unbalanced",         # reporter takes outcome counts from the gate's stats, which miss DUPLICATE
    "anchor_past_end",             # replay anchors take "the next offset to be written" + 1 as their end
    "evidence_of_other_run",       # the reporter stamps one summary with the previous run's id (a cached config)
    "commits_lag_outputs",         # a lane commits only one partition per batch; the reporter waits on outputs
    "no_run_completed",            # the reporter dies before run_completed.json; run still exits 0
    "double_publish",              # the gate checks/records admission outside the lock, after publishing
    "foreign_run_record",          # no run-scope check for one event class; a stale row of another run streams
    "snapshot_disagrees",          # the ingest offsets snapshot is taken before WSP's last batch
    "commit_past_work",            # RTDL drops outputs of records with a null payload field, commits anyway
    "teardown_early",              # teardown writes its proof without stopping one lane
    "quarantine_without_payload",  # quarantine objects lack the received envelope
    "stream_sort_drops_rows",      # stream_view shards hold fewer rows than the sort summary says
    "ready_wrong_offset",          # the READY publish receipt is off by one
    "auth_open",                   # the gate admits requests that carry no key
    "scope_open",                  # the gate admits another platform_run_id
    "anomaly_as_duplicate",        # same tuple, other payload answers DUPLICATE; nothing quarantined
})

# The event class whose run-scope check the foreign_run_record defect forgets.
FOREIGN_OPEN_CLASS = "context_arrival_events"


class Defects:
    def __init__(self, names: Iterable[str] = ()) -> None:
        names = frozenset(names)
        unknown = sorted(names - KNOWN)
        if unknown:
            raise ValueError(f"unknown defects {unknown}; known: {sorted(KNOWN)}")
        self.names = names

    def on(self, name: str) -> bool:
        if name not in KNOWN:
            raise KeyError(name)
        return name in self.names

    def __repr__(self) -> str:
        return f"Defects({sorted(self.names)})"
