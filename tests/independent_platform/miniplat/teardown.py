"""``teardown``: stop every daemon (SIGTERM, then SIGKILL after a timeout), wait until the lanes' groups have
no members, release the SR lease, and write the teardown proof."""

from __future__ import annotations

import os
import time
from typing import Any

from miniplat import kafkaio, procs, store
from miniplat.config import Config
from miniplat.evidence import Evidence
from miniplat.run import scenario_run_id, sr_lease_holder
from miniplat.util import log

COMPONENT = "teardown"


def groups_empty(cfg: Config, timeout_s: float) -> dict[str, int]:
    """Members left per lane group once they are all empty or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {cfg.lane_group(lane): len(kafkaio.group_members(cfg, cfg.lane_group(lane))) for lane in cfg.lanes}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.3)


def release_lease(cfg: Config, s3: Any) -> bool:
    bucket, key = cfg.bucket("evidence"), cfg.prefix("sr_lease", lease_id=scenario_run_id(cfg))
    lease = store.get_json(s3, bucket, key)
    if isinstance(lease, dict) and lease.get("holder") == sr_lease_holder(cfg):
        s3.delete_object(Bucket=bucket, Key=key)
    return not store.exists(s3, bucket, key)


def main(cfg: Config) -> int:
    began = time.monotonic()
    s3 = cfg.s3()
    record = procs.read_pids(cfg)
    processes: dict[str, Any] = record.get("processes", {})
    skipped: set[str] = set()
    if cfg.defects.on("teardown_early") and cfg.lanes:
        skipped = {list(cfg.lanes)[-1]}  # the defect: the last lane is never signalled, and nobody notices
    stopped = {name: procs.stop(p["pid"], str(cfg.path)) for name, p in processes.items() if name not in skipped}
    running = sorted(name for name, gone in stopped.items() if not gone)
    if cfg.defects.on("teardown_early"):
        members: dict[str, int] = {}  # (and the group check is skipped: "they were stopped")
    else:
        members = groups_empty(cfg, 30.0)
    leases_absent = release_lease(cfg, s3)
    ev = Evidence(cfg, s3, scenario_run_id(cfg))
    evidence_preserved = ev.get("run.json") is not None and \
        bool(store.list_keys(s3, cfg.bucket("evidence"), cfg.prefix("evidence")))
    absent = {"daemons": not running, "consumers": not any(members.values()), "leases": leases_absent,
              "pid_records": True}
    status = "COMPLETED" if all(absent.values()) else "INCOMPLETE"
    if (cfg.state_dir / procs.PIDS).exists():
        os.replace(cfg.state_dir / procs.PIDS, cfg.state_dir / procs.STOPPED)
    try:
        ev.put("teardown/teardown_proof.json", "P12", {
            "destroy_status": status, "confirmed_absent": absent, "running_daemons": running,
            "evidence_preserved": evidence_preserved, "consumer_group_members": members})
    except store.AlreadyExists:
        log(COMPONENT, "a teardown proof for this run exists already; it is kept")
    log(COMPONENT, f"{status} in {time.monotonic() - began:.1f}s: absent {absent}, running {running}")
    return 0 if status == "COMPLETED" else 1
