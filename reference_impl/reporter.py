"""The single-writer reporter (P11): a write-once lock object in the evidence bucket, then the closure
files aggregated from what the run produced. A second reporter while the lock is held fails closed."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from reference_impl.canonical import canonical_json
from reference_impl.errors import ReporterLockHeld
from reference_impl.ports import PreconditionFailed
from reference_impl.runtime import Runtime


class Reporter:
    def __init__(self, runtime: Runtime, *, holder: str) -> None:
        self.rt = runtime
        self.holder = holder
        self.process = holder
        self.bucket = runtime.bucket("S3_EVIDENCE_BUCKET", holder)
        self.lock_key = runtime.prefix("REPORTER_LOCK_KEY_PATTERN", holder)
        self.locked = False

    def acquire(self) -> None:
        """Take the run's lock (write-once); re-acquiring one's own lock is idempotent."""
        if self.rt.mutated("reporter_without_lock"):
            return  # the drift: no lock discipline at all
        body = canonical_json({"holder": self.holder, "acquired_at_utc": self.rt.now_iso()}).encode()
        try:
            self.rt.store.put(self.bucket, self.lock_key, body, if_none_match=True)
        except PreconditionFailed:
            current = json.loads(self.rt.store.get(self.bucket, self.lock_key))["holder"]
            if current != self.holder:
                self.rt.record(self.process, "fail", "lock_acquire", lock=self.lock_key, holder=self.holder,
                               held_by=current)
                raise ReporterLockHeld(self.lock_key, current, self.holder) from None
        self.locked = True
        self.rt.record(self.process, "ok", "lock_acquire", lock=self.lock_key, holder=self.holder)

    def write(self, relpath: str, document: Mapping[str, Any]) -> None:
        self.rt.faults.hit("reporter.before_closure", path=relpath, holder=self.holder)
        self.rt.evidence.put(relpath, document)
        self.rt.record(self.process, "ok", "closure_write", holder=self.holder, path=relpath)

    def close(self, documents: Callable[[], list[tuple[str, dict[str, Any]]]]) -> list[str]:
        """Acquire, then write every closure document in order. The lock is kept: it names the run's one
        closer, so a later reporter for the same run still fails closed."""
        self.acquire()
        written = []
        for relpath, document in documents():
            self.write(relpath, document)
            written.append(relpath)
        return written

    def lock_json(self) -> dict[str, Any]:
        return {"holder": self.holder if self.locked else None, "key": self.lock_key, "acquired": self.locked}
