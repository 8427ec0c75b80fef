"""Histories: one JSON line per operation a Target made, in the style of Jepsen's histories.

An operation is an ``invoke`` followed by its completion: ``ok`` (it happened), ``fail`` (it certainly
did not happen) or ``info`` (unknown: a timeout after the request left). Checkers must treat ``info`` as
possibly applied, never as failed: that is how publish ambiguity is represented.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pytest_spine.clock import Clock, SystemClock
from pytest_spine.errors import HistoryError

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: frozenset[str] = frozenset({"invoke", "ok", "fail", "info"})
HISTORY_VERSION = 1


@dataclass(frozen=True, slots=True)
class Operation:
    index: int
    time: float
    process: str
    type: OpType
    f: str
    value: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": dict(self.value),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "operation") -> Operation:
        try:
            op_type = data["type"]
            if op_type not in OP_TYPES:
                raise HistoryError(f"{where}: type must be one of {sorted(OP_TYPES)}, given: {op_type!r}")
            return cls(
                index=int(data["index"]),
                time=float(data["time"]),
                process=str(data["process"]),
                type=op_type,
                f=str(data["f"]),
                value=dict(data.get("value") or {}),
            )
        except KeyError as missing:
            raise HistoryError(f"{where}: missing field {missing}; every operation needs "
                               "index, time, process, type and f") from None
        except (TypeError, ValueError) as bad:
            raise HistoryError(f"{where}: {bad}") from None


class History:
    """Append-only, thread-safe record of operations; optionally streamed to a JSONL file as it grows.

    Keeps at most ``keep_in_memory`` operations in memory (the rest only on disk), so a long soak
    does not grow without bound.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        path: Path | None = None,
        keep_in_memory: int = 2_000_000,
    ) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._ops: list[Operation] = []
        self._count = 0
        self._keep = keep_in_memory
        self._file: IO[str] | None = None
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("x", encoding="utf-8")

    def __len__(self) -> int:
        return self._count

    def append(self, process: str, type: OpType, f: str, **value: Any) -> Operation:
        if type not in OP_TYPES:
            raise HistoryError(f"operation type must be one of {sorted(OP_TYPES)}, given: {type!r}")
        with self._lock:
            op = Operation(self._count, self._clock.now(), process, type, f, value)
            self._count += 1
            if len(self._ops) < self._keep:
                self._ops.append(op)
            if self._file is not None:
                self._file.write(json.dumps(op.to_json(), sort_keys=True, default=str) + "\n")
            return op

    # The reference implementation records through this one method (its Recorder protocol).
    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self.append(process, type, f, **value)  # type: ignore[arg-type]

    def operations(self) -> list[Operation]:
        with self._lock:
            return list(self._ops)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def to_jsonl_bytes(self) -> bytes:
        buffer = io.StringIO()
        for op in self.operations():
            buffer.write(json.dumps(op.to_json(), sort_keys=True, default=str) + "\n")
        return buffer.getvalue().encode()


def dump_compressed(ops: list[Operation], limit_bytes: int) -> tuple[bytes, int, bool]:
    """Gzip a history for the evidence bundle, keeping at most ``limit_bytes`` of JSONL.

    Returns (compressed bytes, operations kept, truncated?). A truncated history says so in its
    last line, so an offline re-check never mistakes it for a complete one.
    """
    raw = io.BytesIO()
    kept = 0
    size = 0
    truncated = False
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for op in ops:
            line = (json.dumps(op.to_json(), sort_keys=True, default=str) + "\n").encode()
            if size + len(line) > limit_bytes:
                truncated = True
                break
            gz.write(line)
            size += len(line)
            kept += 1
        if truncated:
            marker = {"truncated": True, "kept": kept, "total": len(ops), "limit_bytes": limit_bytes}
            gz.write((json.dumps(marker) + "\n").encode())
    return raw.getvalue(), kept, truncated


def read_history(path: Path) -> Iterator[Operation]:
    """Stream a history file (plain or .gz JSONL), naming the line of anything that is not an operation."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if not line.endswith("\n"):
                    raise HistoryError(f"{path}:{number}: the last line is cut short (no newline): "
                                       "the history is truncated; re-export it from the evidence bundle")
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as bad:
                    raise HistoryError(f"{path}:{number}: not a JSON line ({bad.msg} at column {bad.colno})") \
                        from None
                if not isinstance(data, dict):
                    raise HistoryError(f"{path}:{number}: expected a JSON object, given: {type(data).__name__}")
                if data.get("truncated") is True:
                    raise HistoryError(f"{path}:{number}: the history was truncated at {data.get('kept')} of "
                                       f"{data.get('total')} operations when stored; a complete re-check needs "
                                       "the full history")
                yield Operation.from_json(data, where=f"{path}:{number}")
    except (OSError, EOFError, gzip.BadGzipFile) as bad:
        raise HistoryError(f"{path}: cannot be read as a history: {bad}") from None
