"""The evidence bundle writer: one writer for every file of a run.

Files are write-once (a hard link from a fully written temporary file: atomic, and it fails if the name
exists), redacted, validated against their schema when written, and listed with their sha256 in
``manifest.json`` when the bundle is sealed. A bundle interrupted before it is sealed is still sealed,
marked incomplete: never a half-written file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets as _secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_spine.clock import Clock, SystemClock, utc_iso
from pytest_spine.errors import EvidenceError, WriteOnceViolation
from pytest_spine.evidence.redaction import Redactor
from pytest_spine.evidence.schemas import validate_evidence
from pytest_spine.history import Operation, dump_compressed

BUNDLE_SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
STATUS = "bundle_status.json"
HISTORY_LIMIT_BYTES = 64 * 1024 * 1024  # uncompressed JSONL kept per history file


def run_dir_for(evidence_dir: Path, platform_run_id: str) -> Path:
    return evidence_dir / "evidence" / "runs" / platform_run_id


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_relpath(relpath: str) -> str:
    path = PurePosixPath(relpath)
    if path.is_absolute() or ".." in path.parts or not path.parts or relpath != str(path):
        raise EvidenceError(f"evidence path must be relative to the run root without '..', given: {relpath!r}")
    return relpath


def write_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, never replacing an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise WriteOnceViolation(
                f"{path} already exists: evidence is written once and never overwritten; "
                "write a new file (or start a new run id) instead"
            ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class EvidenceBundle:
    """Writes one run's bundle under ``<evidence_dir>/evidence/runs/<platform_run_id>/``."""

    def __init__(
        self,
        evidence_dir: Path,
        platform_run_id: str,
        *,
        clock: Clock | None = None,
        redactor: Redactor | None = None,
        validate: bool = True,
    ) -> None:
        self.evidence_dir = evidence_dir
        self.platform_run_id = platform_run_id
        self.root = run_dir_for(evidence_dir, platform_run_id)
        self.clock = clock or SystemClock()
        self.redactor = redactor or Redactor()
        self._validate = validate
        self._lock = threading.Lock()
        self._sealed = False
        # Called after every write with (relpath, sha256): the session records evidence_write operations.
        self.on_write: Callable[[str, str], None] | None = None

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, evidence_dir: Path, platform_run_id: str, **kw: Any) -> EvidenceBundle:
        """Open a new bundle; refuse (touching nothing) when the run already has one or the dir is not writable."""
        bundle = cls(evidence_dir, platform_run_id, **kw)
        if bundle.root.exists():
            raise EvidenceError(
                f"run id {platform_run_id!r} already has an evidence bundle at {bundle.root}; it is left "
                "untouched. Choose another --spine-run-id (or omit it to get a fresh one)"
            )
        try:
            bundle.root.mkdir(parents=True)
        except FileExistsError:
            raise EvidenceError(f"run id {platform_run_id!r} already has an evidence bundle at "
                                f"{bundle.root}; it is left untouched") from None
        except OSError as bad:
            raise EvidenceError(
                f"evidence dir {evidence_dir} is not writable ({bad.strerror}); pass a writable "
                "--spine-evidence-dir"
            ) from None
        probe = bundle.root / f".write-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as bad:
            raise EvidenceError(f"evidence dir {bundle.root} is not writable ({bad.strerror}); pass a "
                                "writable --spine-evidence-dir") from None
        return bundle

    @classmethod
    def attach(cls, evidence_dir: Path, platform_run_id: str, **kw: Any) -> EvidenceBundle:
        """Join an existing bundle (an xdist worker writing its part of the controller's bundle)."""
        bundle = cls(evidence_dir, platform_run_id, **kw)
        if not bundle.root.is_dir():
            raise EvidenceError(f"no evidence bundle to attach to at {bundle.root}")
        return bundle

    # -- writing ---------------------------------------------------------------------------------
    def stamp(self, document: Mapping[str, Any]) -> dict[str, Any]:
        stamped = dict(document)
        claimed = stamped.get("platform_run_id")
        if claimed is not None and claimed != self.platform_run_id:
            raise EvidenceError(
                f"document claims platform_run_id {claimed!r} but this bundle is run {self.platform_run_id!r}: "
                "run scope fails closed"
            )
        stamped["platform_run_id"] = self.platform_run_id
        stamped.setdefault("written_at_utc", utc_iso(self.clock.now()))
        stamped.setdefault("schema_version", BUNDLE_SCHEMA_VERSION)
        return stamped

    def put(self, relpath: str, document: Mapping[str, Any]) -> str:
        """Write a JSON evidence document once; returns its sha256."""
        _check_relpath(relpath)
        if not relpath.endswith(".json"):
            raise EvidenceError(f"JSON evidence must end in .json, given: {relpath!r}; use put_bytes for others")
        self._refuse_if_sealed(relpath)
        doc = self.redactor.document(self.stamp(document))
        if self._validate:
            validate_evidence(relpath, doc)
        data = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n"
        write_once(self.root / relpath, data)
        return self._written(relpath, data)

    def put_bytes(self, relpath: str, data: bytes) -> str:
        _check_relpath(relpath)
        self._refuse_if_sealed(relpath)
        data = self.redactor.bytes(data)
        write_once(self.root / relpath, data)
        return self._written(relpath, data)

    def _written(self, relpath: str, data: bytes) -> str:
        digest = sha256_hex(data)
        if self.on_write is not None:
            self.on_write(relpath, digest)
        return digest

    def put_history(self, relpath: str, ops: list[Operation],
                    limit_bytes: int = HISTORY_LIMIT_BYTES) -> dict[str, Any]:
        """Store a history gzip-compressed with a stated size bound; returns what was kept."""
        if not relpath.endswith(".jsonl.gz"):
            raise EvidenceError(f"histories are stored as .jsonl.gz, given: {relpath!r}")
        redacted = [self._redact_op(op) for op in ops]
        data, kept, truncated = dump_compressed(redacted, limit_bytes)
        digest = self.put_bytes(relpath, data)
        return {"path": relpath, "sha256": digest, "operations": kept, "total": len(ops),
                "truncated": truncated, "limit_bytes": limit_bytes, "compressed_bytes": len(data)}

    def _redact_op(self, op: Operation) -> Operation:
        value = self.redactor.document(dict(op.value))
        return Operation(op.index, op.time, op.process, op.type, op.f, value)

    def _refuse_if_sealed(self, relpath: str) -> None:
        if self._sealed:
            raise EvidenceError(f"cannot write {relpath!r}: the bundle {self.root} is already sealed")

    # -- reading ---------------------------------------------------------------------------------
    def get(self, relpath: str) -> dict[str, Any] | None:
        path = self.root / _check_relpath(relpath)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as bad:
            raise EvidenceError(f"evidence file {path} cannot be read as JSON: {bad}") from None
        return data if isinstance(data, dict) else None

    def exists(self, relpath: str) -> bool:
        return (self.root / _check_relpath(relpath)).is_file()

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    # -- sealing ---------------------------------------------------------------------------------
    def seal(self, status: str, reason: str, extra: Mapping[str, Any] | None = None) -> None:
        """Close the bundle: the status file, then the manifest of every file's digest. Only the controller
        (never an xdist worker) calls this; it is safe to call once only."""
        if status not in ("complete", "incomplete"):
            raise EvidenceError(f"bundle status must be 'complete' or 'incomplete', given: {status!r}")
        with self._lock:
            if self._sealed:
                return
            self._remove_stray_temporaries()
            self.put(STATUS, {"status": status, "reason": reason, **(extra or {})})
            files = {}
            for relpath in self.list():
                if relpath == MANIFEST:
                    continue
                data = (self.root / relpath).read_bytes()
                files[relpath] = {"sha256": sha256_hex(data), "bytes": len(data)}
            self.put(MANIFEST, {"algorithm": "sha256", "file_count": len(files), "files": files})
            self._sealed = True

    @property
    def sealed(self) -> bool:
        return self._sealed or (self.root / MANIFEST).exists()

    def _remove_stray_temporaries(self) -> None:
        # A write cut by a second Ctrl-C leaves only a dot-temporary, never a half-written final name.
        for path in self.root.rglob(".*.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()


def iter_json_files(root: Path) -> Iterable[Path]:
    return (p for p in sorted(root.rglob("*.json")) if not p.name.startswith("."))
