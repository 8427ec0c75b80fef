"""The run's evidence files: JSON documents stamped with the run id, a UTC time and the schema version,
written once under ``s3://{evidence bucket}/{evidence prefix}{relpath}``."""

from __future__ import annotations

from typing import Any

from miniplat import store
from miniplat.config import Config
from miniplat.util import log, utc_now

SCHEMA_VERSION = 1


class Evidence:
    def __init__(self, cfg: Config, s3: Any, scenario_run_id: str | None) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.bucket = cfg.bucket("evidence")
        self.scenario_run_id = scenario_run_id
        self.written: list[str] = []

    def key(self, relpath: str) -> str:
        return self.cfg.evidence_key(relpath)

    def put(self, relpath: str, phase_id: str, document: dict[str, Any]) -> dict[str, Any]:
        claimed = document.get("platform_run_id", self.cfg.platform_run_id)
        if claimed != self.cfg.platform_run_id:
            raise ValueError(f"{relpath} claims run {claimed!r}, not {self.cfg.platform_run_id!r}")
        stamped: dict[str, Any] = {"platform_run_id": self.cfg.platform_run_id, "phase_id": phase_id,
                                   "schema_version": SCHEMA_VERSION}
        if self.scenario_run_id is not None:
            stamped["scenario_run_id"] = self.scenario_run_id
        stamped.update(document)
        if self.cfg.defects.on("evidence_of_other_run") and relpath == "obs/anomaly_summary.json":
            stamped["platform_run_id"] = "platform_20261201T000000Z_previous"  # the defect: a cached run id
        stamped["written_at_utc"] = utc_now()
        store.put_once(self.s3, self.bucket, self.key(relpath), stamped)
        self.written.append(relpath)
        log("evidence", f"{phase_id} {relpath}")
        return stamped

    def get(self, relpath: str) -> Any:
        return store.get_json(self.s3, self.bucket, self.key(relpath))
