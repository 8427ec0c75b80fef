"""Run evidence as objects in the evidence bucket: ``s3://<S3_EVIDENCE_BUCKET>/<S3_EVIDENCE_PREFIX_PATTERN>
<relpath>``, one document per object.

Each document is one write-once put of the whole body (the S3 adapter sends its Content-MD5, so a body cut
in transit is refused, never stored half-written). A put that failed is reported, never swallowed: ``put``
raises :class:`EvidenceWriteFailed` and ``status()`` is FAIL while any failed document has not been written
since (the run fails closed). Re-writing a document whose first put failed is safe: if the lost put did
land, the identical object is accepted as written; a different body under the key is a failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reference_impl.canonical import canonical_json
from reference_impl.errors import PlatformError
from reference_impl.ports import PreconditionFailed
from reference_impl.runtime import Runtime

PROCESS = "evidence_writer"


class EvidenceWriteFailed(PlatformError):
    """An evidence document could not be written whole; the run that needs it cannot PASS."""


class EvidenceObjects:
    def __init__(self, runtime: Runtime, *, process: str = PROCESS) -> None:
        self.rt = runtime
        self.process = process
        self.bucket = runtime.bucket("S3_EVIDENCE_BUCKET", process)
        self.root = runtime.prefix("S3_EVIDENCE_PREFIX_PATTERN", process)
        self.written: dict[str, str] = {}  # key -> sha256 of what the store holds
        self.failed: dict[str, str] = {}  # key -> why, until written again

    def key(self, relpath: str) -> str:
        return f"{self.root}{relpath}"

    def put(self, relpath: str, document: Mapping[str, Any]) -> str:
        """Write one document; returns its key, or raises EvidenceWriteFailed naming the key and the cause."""
        body = canonical_json(dict(document)).encode()
        digest = hashlib.sha256(body).hexdigest()
        key = self.key(relpath)
        self.rt.record(self.process, "invoke", "evidence_put", bucket=self.bucket, key=key, sha256=digest,
                       bytes=len(body))
        try:
            self._put(key, body, digest)
        except Exception as error:
            if self.rt.mutated("evidence_put_unchecked"):
                # The drift: the failed put is swallowed and the document counted as written.
                self.written[key] = digest
                self.rt.record(self.process, "ok", "evidence_put", bucket=self.bucket, key=key, sha256=digest)
                return key
            why = f"{type(error).__name__}: {error}"
            self.failed[key] = why
            self.rt.record(self.process, "fail", "evidence_put", bucket=self.bucket, key=key, sha256=digest,
                           error=why)
            raise EvidenceWriteFailed(f"evidence object s3://{self.bucket}/{key} was not written: {why}; the "
                                      "run cannot pass without it (write it again once the store answers)") \
                from None
        self.written[key] = digest
        self.failed.pop(key, None)
        self.rt.record(self.process, "ok", "evidence_put", bucket=self.bucket, key=key, sha256=digest)
        return key

    def _put(self, key: str, body: bytes, digest: str) -> None:
        try:
            self.rt.store.put(self.bucket, key, body, if_none_match=True)
        except PreconditionFailed:
            # An earlier attempt whose answer was lost may have landed: the same bytes are this write.
            found = hashlib.sha256(self.rt.store.get(self.bucket, key)).hexdigest()
            if found != digest:
                raise EvidenceWriteFailed(f"s3://{self.bucket}/{key} already holds another document "
                                          f"(sha256 {found[:12]}..., this one {digest[:12]}...)") from None

    def status(self) -> dict[str, Any]:
        """PASS only when no document is left failed: what the run may report about its evidence."""
        return {"status": "FAIL" if self.failed else "PASS", "written": len(self.written),
                "failed": sorted(self.failed), "bucket": self.bucket, "root": self.root}
