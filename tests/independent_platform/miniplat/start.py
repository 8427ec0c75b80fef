"""``start``: create the topics and buckets, spawn the gate and the lanes, and wait until they are ready
(the gate's health answers for this run; every lane is a member of its group)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from miniplat import kafkaio, procs, store
from miniplat.config import RUN_ID_ENV, Config, api_key_from_env
from miniplat.util import log

COMPONENT = "start"


def health(cfg: Config, timeout_s: float = 2.0) -> dict[str, Any] | None:
    url = cfg.gate_base_url + str(cfg.gate["health_path"])
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            if answer.status == 200:
                loaded: dict[str, Any] = json.loads(answer.read())
                return loaded
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def lane_ready(cfg: Config, lane: str) -> bool:
    path = cfg.state_dir / "lanes" / f"{lane}.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if status.get("platform_run_id") != cfg.platform_run_id or not status.get("assigned"):
        return False
    try:
        return len(kafkaio.group_members(cfg, cfg.lane_group(lane))) >= 1
    except Exception:
        return False


def daemons(cfg: Config) -> dict[str, list[str]]:
    found = {"gate": procs.daemon_argv(cfg, "gate")}
    for lane in cfg.lanes:
        found[lane] = procs.daemon_argv(cfg, "lane", "--lane", lane)
    return found


def provision(cfg: Config) -> int:
    """Create the topics of the map and the buckets when missing (what infrastructure code would do)."""
    kafkaio.ensure_topics(cfg)
    store.ensure_buckets(cfg.s3(), sorted(set(cfg.doc["buckets"].values())))
    log(COMPONENT, f"{len(cfg.topic_specs())} topics and {len(set(cfg.doc['buckets'].values()))} buckets present")
    return 0


def main(cfg: Config, timeout_s: float = 60.0) -> int:
    began = time.monotonic()
    key = api_key_from_env()
    if not key:
        log(COMPONENT, "no API key (MINIPLAT_API_KEY or SPINE_IG_API_KEY): refusing to start")
        return 2
    existing = procs.read_pids(cfg)
    alive = {n: p for n, p in existing.get("processes", {}).items() if procs.ours(p["pid"], str(cfg.path))}
    if alive and existing.get("platform_run_id") != cfg.platform_run_id:
        log(COMPONENT, f"daemons of run {existing.get('platform_run_id')} still run: {sorted(alive)}; tear down "
                       "first")
        return 1
    provision(cfg)
    env = {**os.environ, RUN_ID_ENV: cfg.platform_run_id, "MINIPLAT_API_KEY": key, "PYTHONUNBUFFERED": "1"}
    # A daemon of this run that still runs is kept; only the missing ones are (re)started.
    record: dict[str, Any] = {"platform_run_id": cfg.platform_run_id, "processes": dict(alive)}
    for name, argv in daemons(cfg).items():
        if name in alive:
            continue
        (cfg.state_dir / "lanes" / f"{name}.json").unlink(missing_ok=True)
        record["processes"][name] = procs.spawn(cfg, name, argv, env)
        procs.write_pids(cfg, record)
    started = [(n, p["pid"]) for n, p in record["processes"].items() if n not in alive]
    log(COMPONENT, f"kept {sorted(alive)}; started {started}")
    deadline = time.monotonic() + timeout_s
    pending = set(record["processes"])
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            proc = record["processes"][name]
            if not procs.ours(proc["pid"], str(cfg.path)):
                log(COMPONENT, f"{name} exited during start-up; see {proc['log']}")
                _abort(cfg, record)
                return 1
            if name == "gate":
                answer = health(cfg)
                ready = answer is not None and answer.get("platform_run_id") == cfg.platform_run_id
            else:
                ready = lane_ready(cfg, name)
            if ready:
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        log(COMPONENT, f"not ready within {timeout_s}s: {sorted(pending)}")
        _abort(cfg, record)
        return 1
    log(COMPONENT, f"ready in {time.monotonic() - began:.1f}s")
    return 0


def _abort(cfg: Config, record: dict[str, Any]) -> None:
    for proc in record["processes"].values():
        procs.stop(proc["pid"], str(cfg.path), timeout_s=5.0)
