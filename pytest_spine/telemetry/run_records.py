"""Run records: what one past run says about each test, read from an evidence bundle or a JUnit XML file,
and the run-history store (a local folder or an S3 prefix) that keeps them.

A store holds normalized records (``<stamp>__<run id>.run.json``, written once by ``spine history add``);
for convenience a local folder may also hold raw bundles and ``*.xml`` JUnit files, read as they are.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_spine.errors import SpineError

RECORD_VERSION = 1
RECORD_SUFFIX = ".run.json"
OUTCOMES = ("pass", "fail", "skip", "flaky")


class RunHistoryError(SpineError):
    """A run history, bundle or JUnit file cannot be used as one; names the file and the place."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run: when it started, and each test's outcome (pass | fail | skip | flaky) and kind."""

    run_id: str
    started_at: float
    outcomes: Mapping[str, str]
    kinds: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "history_record_version": RECORD_VERSION, "platform_run_id": self.run_id,
            "started_at_utc": _iso(self.started_at), "sources": list(self.sources),
            "outcomes": dict(sorted(self.outcomes.items())), "kinds": dict(sorted(self.kinds.items())),
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunRecord:
        if not isinstance(data, Mapping):
            raise RunHistoryError(f"{where}: a run record is a JSON object, given: {type(data).__name__}")
        version = data.get("history_record_version")
        if version != RECORD_VERSION:
            raise RunHistoryError(f"{where}: at history_record_version: {version!r} is not a version this "
                                  f"harness reads ({RECORD_VERSION}); re-add the run with this spine")
        outcomes = data.get("outcomes")
        if not isinstance(outcomes, Mapping) or any(v not in OUTCOMES for v in outcomes.values()):
            raise RunHistoryError(f"{where}: at outcomes: expected {{test id: one of {list(OUTCOMES)}}}")
        run_id = data.get("platform_run_id")
        if not isinstance(run_id, str) or not run_id:
            raise RunHistoryError(f"{where}: at platform_run_id: missing or empty")
        return cls(run_id, _parse_time(data.get("started_at_utc"), where, "started_at_utc"),
                   dict(outcomes), dict(data.get("kinds") or {}), tuple(data.get("sources") or ()))

    def merged(self, other: RunRecord) -> RunRecord:
        if other.run_id != self.run_id:
            raise RunHistoryError(f"cannot merge run {other.run_id!r} ({', '.join(other.sources)}) into run "
                                  f"{self.run_id!r} ({', '.join(self.sources)}): mixed run ids")
        clash = sorted(set(self.outcomes) & set(other.outcomes))
        if clash:
            raise RunHistoryError(f"run {self.run_id!r}: test ids {clash[:3]} appear in both "
                                  f"{', '.join(self.sources)} and {', '.join(other.sources)}")
        return RunRecord(self.run_id, min(self.started_at, other.started_at),
                         {**self.outcomes, **other.outcomes}, {**self.kinds, **other.kinds},
                         self.sources + other.sources)


def combine_outcomes(found: set[str]) -> str:
    """One outcome for a test reported several times in one run: failed and passed (a retry) is a flake."""
    if "flaky" in found or {"pass", "fail"} <= found:
        return "flaky"
    for outcome in ("fail", "pass"):
        if outcome in found:
            return outcome
    return "skip"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: Any, where: str, place: str) -> float:
    if not isinstance(text, str):
        raise RunHistoryError(f"{where}: at {place}: expected an ISO 8601 UTC time, given: {text!r}")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RunHistoryError(f"{where}: at {place}: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as bad:
        raise RunHistoryError(f"{path}: cannot be read: {bad}") from None
    except json.JSONDecodeError as bad:
        raise RunHistoryError(f"{path}: at line {bad.lineno}, column {bad.colno}: not valid JSON ({bad.msg})") \
            from None


_VERDICT_OUTCOME = {"PASS": "pass", "FAIL": "fail", "BLOCKED": "fail", "UNKNOWN": "fail",
                    "NOT_APPLICABLE": "skip"}


def resolve_run_dir(path: Path) -> Path:
    """A run directory, or an evidence dir holding exactly one run."""
    if (path / "verdicts.json").is_file():
        return path
    runs = path / "evidence" / "runs"
    if runs.is_dir():
        found = sorted(p for p in runs.iterdir() if p.is_dir())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise RunHistoryError(f"{path} holds {len(found)} runs; add one run directory at a time "
                                  f"(e.g. {found[-1]})")
    return path


def bundle_parts(run_dir: Path, name: str) -> list[Path]:
    """A bundle file and its xdist workers' parts (``parts/<worker>/<name>``), controller first."""
    return [p for p in (run_dir / name, *sorted((run_dir / "parts").glob(f"*/{name}"))) if p.is_file()]


def record_from_bundle(path: Path) -> RunRecord:
    """The verdicts of a bundle (and of its xdist parts) as a run record: PASS -> pass, NOT_APPLICABLE -> skip,
    FAIL/BLOCKED/UNKNOWN -> fail; a check recorded both failed and passed in one run is a flake."""
    run_dir = resolve_run_dir(path)
    sources = bundle_parts(run_dir, "verdicts.json")
    if not sources:
        raise RunHistoryError(f"{run_dir}: no verdicts.json: not an evidence bundle (or the run never "
                              "recorded a verdict); pass a run directory")
    outcomes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    run_id: str | None = None
    first_doc: Mapping[str, Any] | None = None
    for verdicts_path in sources:
        doc = _read_json(verdicts_path)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("verdicts"), list):
            raise RunHistoryError(f"{verdicts_path}: at verdicts: expected a list of verdicts")
        claimed = doc.get("platform_run_id")
        if not isinstance(claimed, str) or not claimed:
            raise RunHistoryError(f"{verdicts_path}: at platform_run_id: missing or empty")
        if run_id is not None and claimed != run_id:
            raise RunHistoryError(f"{verdicts_path}: platform_run_id {claimed!r} differs from {run_id!r} in "
                                  f"{sources[0]}: mixed run ids; the bundle is not trustworthy")
        if run_dir.name != claimed and run_dir.parent.name == "runs":
            raise RunHistoryError(f"{verdicts_path}: platform_run_id {claimed!r} is not the run directory's "
                                  f"name {run_dir.name!r}: mixed run ids; the bundle is not trustworthy")
        run_id = claimed
        first_doc = first_doc or doc
        for i, verdict in enumerate(doc["verdicts"]):
            if not isinstance(verdict, Mapping) or "id" not in verdict \
                    or verdict.get("status") not in _VERDICT_OUTCOME:
                raise RunHistoryError(f"{verdicts_path}: at verdicts/{i}: expected {{id, kind, status}} with a "
                                      f"status in {sorted(_VERDICT_OUTCOME)}")
            check_id = str(verdict["id"])
            outcome = _VERDICT_OUTCOME[str(verdict["status"])]
            previous = outcomes.get(check_id)
            outcomes[check_id] = outcome if previous is None else combine_outcomes({previous, outcome})
            kinds[check_id] = str(verdict.get("kind", ""))
    assert run_id is not None and first_doc is not None
    started = _bundle_start(run_dir, first_doc, sources[0])
    return RunRecord(run_id, started, outcomes, kinds, (str(run_dir),))


def _bundle_start(run_dir: Path, verdicts: Mapping[str, Any], where: Path) -> float:
    run = _read_json(run_dir / "run.json")
    if isinstance(run, Mapping):
        for key in ("started_at_utc", "written_at_utc"):
            if isinstance(run.get(key), str):
                return _parse_time(run[key], str(run_dir / "run.json"), key)
    return _parse_time(verdicts.get("written_at_utc"), str(where), "written_at_utc")


def record_from_junit(path: Path, run_id: str | None = None, started_at: float | None = None) -> RunRecord:
    """A JUnit XML file (pytest's ``--junitxml``, or any CI's) as a run record.

    The test id is ``classname::name``. A test with a ``flakyFailure``/``rerunFailure`` and no final failure,
    or reported both failed and passed in one file, is ``flaky``.
    """
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise RunHistoryError(f"{path}: no such JUnit file") from None
    except ET.ParseError as bad:
        line, column = bad.position
        raise RunHistoryError(f"{path}: at line {line}, column {column + 1}: not well-formed XML") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        raise RunHistoryError(f"{path}: at <{root.tag}>: a JUnit file's root is <testsuites> or <testsuite>")
    claimed: set[str] = set()
    stamps: list[float] = []
    for suite in suites:
        for prop in suite.iter("property"):
            if prop.get("name") == "platform_run_id" and prop.get("value"):
                claimed.add(str(prop.get("value")))
        if suite.get("timestamp"):
            stamps.append(_parse_time(suite.get("timestamp"), str(path), "testsuite@timestamp"))
    if len(claimed) > 1:
        raise RunHistoryError(f"{path}: its suites claim several platform_run_id values {sorted(claimed)}: "
                              "mixed run ids; one JUnit file per run")
    file_run = next(iter(claimed), None)
    if run_id is not None and file_run is not None and file_run != run_id:
        raise RunHistoryError(f"{path}: claims platform_run_id {file_run!r} but is being added to run "
                              f"{run_id!r}: mixed run ids")
    the_run = run_id or file_run or path.name.removesuffix(".xml")
    when = started_at if started_at is not None else (min(stamps) if stamps else None)
    if when is None:
        raise RunHistoryError(f"{path}: at <testsuite>: no timestamp attribute, so the run cannot be placed "
                              "in time; add it with --junit next to its bundle (spine history add BUNDLE --junit)")
    seen: dict[str, set[str]] = {}
    for case in root.iter("testcase"):
        name = case.get("name")
        if not name:
            raise RunHistoryError(f"{path}: a <testcase> has no name attribute")
        test_id = f"{case.get('classname')}::{name}" if case.get("classname") else name
        children = {child.tag for child in case}
        if children & {"failure", "error"}:
            outcome = "fail"
        elif "skipped" in children:
            outcome = "skip"
        elif children & {"flakyFailure", "flakyError", "rerunFailure", "rerunError"}:
            outcome = "flaky"
        else:
            outcome = "pass"
        seen.setdefault(test_id, set()).add(outcome)
    outcomes = {test_id: combine_outcomes(found) for test_id, found in seen.items()}
    return RunRecord(the_run, when, outcomes, dict.fromkeys(outcomes, "junit"), (str(path),))


class RecordStore(Protocol):
    """Where run records live: a local folder or an S3 prefix."""

    location: str

    def add(self, record: RunRecord) -> str: ...

    def records(self) -> list[RunRecord]: ...


def record_name(record: RunRecord) -> str:
    stamp = dt.datetime.fromtimestamp(record.started_at, tz=dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", record.run_id)
    return f"{stamp}__{safe}{RECORD_SUFFIX}"


def _encode(record: RunRecord) -> bytes:
    return json.dumps(record.to_json(), indent=2, sort_keys=True).encode() + b"\n"


def _combine(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One record per run id (a bundle and its JUnit merge), oldest first."""
    by_run: dict[str, RunRecord] = {}
    for record in records:
        by_run[record.run_id] = by_run[record.run_id].merged(record) if record.run_id in by_run else record
    return sorted(by_run.values(), key=lambda r: (r.started_at, r.run_id))


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def add(self, record: RunRecord) -> str:
        existing = {r.run_id for r in self._normalized()}
        if record.run_id in existing:
            raise RunHistoryError(f"run {record.run_id!r} is already in the history at {self.root}; a run is "
                                  "added once (records are never overwritten)")
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / record_name(record)
        tmp = self.root / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            tmp.write_bytes(_encode(record))
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise RunHistoryError(f"{target} already exists; records are written once") from None
        finally:
            tmp.unlink(missing_ok=True)
        return str(target)

    def _normalized(self) -> list[RunRecord]:
        if not self.root.is_dir():
            return []
        return [RunRecord.from_json(_read_json(p), str(p)) for p in sorted(self.root.glob(f"*{RECORD_SUFFIX}"))]

    def records(self) -> list[RunRecord]:
        if not self.root.is_dir():
            raise RunHistoryError(f"history dir {self.root} does not exist; create it with "
                                  "`spine history add BUNDLE --history-dir DIR`")
        found = self._normalized()
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                run_dir = resolve_run_dir(child)
                if (run_dir / "verdicts.json").is_file():
                    found.append(record_from_bundle(run_dir))
            elif child.suffix == ".xml":
                found.append(record_from_junit(child))
        return _combine(found)


class S3Store:
    """Records under ``s3://bucket/prefix/`` through boto3 (credentials from the usual AWS chain)."""

    def __init__(self, url: str, client: Any = None) -> None:
        match = re.fullmatch(r"s3://([^/]+)/?(.*)", url)
        if match is None:
            raise RunHistoryError(f"history location {url!r} is not s3://bucket/prefix")
        self.bucket = match.group(1)
        prefix = match.group(2)
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.location = url
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._s3 = client

    def _keys(self) -> list[str]:
        keys: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        except Exception as bad:  # botocore raises many types; all mean the same here
            raise RunHistoryError(f"history {self.location}: cannot list objects ({bad}); check the bucket "
                                  "name and credentials") from None
        return sorted(keys)

    def add(self, record: RunRecord) -> str:
        key = self.prefix + record_name(record)
        if any(k.endswith(f"__{re.sub(r'[^A-Za-z0-9_.=-]', '_', record.run_id)}{RECORD_SUFFIX}")
               for k in self._keys()):
            raise RunHistoryError(f"run {record.run_id!r} is already in the history at {self.location}; a run "
                                  "is added once")
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=_encode(record), IfNoneMatch="*",
                                ContentType="application/json")
        except Exception as bad:
            raise RunHistoryError(f"history {self.location}: cannot write {key} ({bad})") from None
        return f"s3://{self.bucket}/{key}"

    def records(self) -> list[RunRecord]:
        found = []
        for key in self._keys():
            if not key.endswith(RECORD_SUFFIX):
                continue
            try:
                body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                data = json.loads(body)
            except json.JSONDecodeError as bad:
                raise RunHistoryError(f"s3://{self.bucket}/{key}: at line {bad.lineno}: not valid JSON") from None
            except Exception as bad:
                raise RunHistoryError(f"s3://{self.bucket}/{key}: cannot be read ({bad})") from None
            found.append(RunRecord.from_json(data, f"s3://{self.bucket}/{key}"))
        return _combine(found)


def open_store(location: str | Path, s3_client: Any = None) -> RecordStore:
    text = str(location)
    if text.startswith("s3://"):
        return S3Store(text, s3_client)
    return LocalStore(Path(text))
