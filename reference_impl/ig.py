"""The ingestion gate (IG): the writer boundary (API key), run scope, dedupe on exactly
``(platform_run_id, event_class, event_id)``, payload-anomaly detection, quarantine, publish (IG alone
publishes traffic/context) and an append-only receipt log."""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reference_impl.append_log import AppendOnlyLog
from reference_impl.canonical import canonical_json, digest_of
from reference_impl.handles import SMOKE_EVENT_CLASS
from reference_impl.ports import PublishTimeout
from reference_impl.runtime import Runtime

PROCESS = "ig"
OUTCOMES: tuple[str, ...] = ("ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS")


@dataclass(frozen=True, slots=True)
class IngestResponse:
    status_code: int
    outcome: str | None = None
    receipt_seq: int | None = None
    error: str | None = None
    partition: int | None = None
    offset: int | None = None


class ControlGate(Protocol):
    """The security layer in front of control messages (``reference_impl.security.SecurityGate``)."""

    def admit(self, message: bytes, node: str) -> Any: ...


# Rejection reason of the security layer -> the HTTP status the writer boundary answers with.
_CONTROL_STATUS = {"oversize": 413, "rate_limited": 429, "quarantined": 403, "unsigned": 401,
                   "bad_signature": 401, "truncated_signature": 401, "bad_signature_encoding": 401,
                   "bad_key_length": 401, "unknown_author": 401, "skew": 409, "replay": 409,
                   "nonce_duplicate": 409, "nonce_stale": 409}


class IngestClient(Protocol):
    def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse: ...


def payload_hash(envelope: Mapping[str, Any]) -> str:
    return digest_of(envelope.get("payload"))


@dataclass(slots=True)
class Admission:
    payload_hash: str
    state: str  # "published" | "ambiguous"
    receipt_seq: int


class AdmissionStore:
    """The dedupe table. It can be shared by several runs' gates: the run id is part of the key."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, ...], Admission] = {}

    def get(self, key: tuple[str, ...]) -> Admission | None:
        return self.entries.get(key)

    def put(self, key: tuple[str, ...], admission: Admission) -> None:
        self.entries[key] = admission


@dataclass(slots=True)
class IngestStats:
    attempts: int = 0  # requests answered with an outcome (the ones a receipt must exist for)
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_class: Counter[str] = field(default_factory=Counter)
    published: int = 0
    published_by_class: Counter[str] = field(default_factory=Counter)
    quarantine_items: list[dict[str, Any]] = field(default_factory=list)
    rejected: Counter[int] = field(default_factory=Counter)


class IngestGate:
    def __init__(self, runtime: Runtime, *, required_platform_run_id: str | None, api_key: str,
                 admission: AdmissionStore | None = None, receipts: AppendOnlyLog | None = None,
                 task_id: str = "ig-1", security: ControlGate | None = None) -> None:
        runtime.check_scope(PROCESS, required_platform_run_id)
        self.rt = runtime
        self.required = required_platform_run_id
        self._api_key = api_key
        self.task_id = task_id
        self.admission = admission if admission is not None else AdmissionStore()
        self.receipts = receipts if receipts is not None else AppendOnlyLog(
            "ig.receipts", allow_rewrite=runtime.mutated("mutable_receipts"))
        self.stats = IngestStats()
        self.security = security
        self.control_log: list[dict[str, Any]] = []
        self.header = runtime.handles.ig_auth_header_name
        self.quarantine_bucket = runtime.bucket("S3_QUARANTINE_BUCKET", PROCESS)
        self.quarantine_prefix = runtime.prefix("S3_QUARANTINE_PREFIX_PATTERN", PROCESS,
                                                platform_run_id=required_platform_run_id or "unscoped")
        self.local_files = runtime.mutated("local_file_persistence")
        self._ack_lost_once = runtime.mutated("publish_ack_lost")
        self._quarantined = 0

    # ------------------------------------------------------------------ boundary
    def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse:
        if not self.rt.mutated("auth_bypass"):
            presented = headers.get(self.header)
            if presented is None:
                self.stats.rejected[401] += 1
                return IngestResponse(401, error=f"missing {self.header} header")
            if not hmac.compare_digest(presented.encode(), self._api_key.encode()):
                self.stats.rejected[403] += 1
                return IngestResponse(403, error=f"wrong {self.header}")
        run_id = envelope.get("platform_run_id") if isinstance(envelope, Mapping) else None
        if isinstance(run_id, str) and run_id != self.required and not self.rt.mutated("scope_not_enforced"):
            self.rt.record(PROCESS, "fail", "scope_check", component=PROCESS, required=self.required,
                           observed=run_id)
            self.stats.rejected[409] += 1
            return IngestResponse(409, error=f"platform_run_id {run_id!r} is not this gate's run "
                                              f"{self.required!r} (fail closed)")
        return self._admit(envelope)

    def control(self, headers: Mapping[str, str], message: bytes, node: str) -> IngestResponse:
        """A signed control message: the API key, then the security layer, before any state changes.

        Without a security layer control messages fail closed (503): there is no unchecked path."""
        presented = headers.get(self.header)
        if presented is None:
            return IngestResponse(401, error=f"missing {self.header} header")
        if not hmac.compare_digest(presented.encode(), self._api_key.encode()):
            return IngestResponse(403, error=f"wrong {self.header}")
        if self.security is None:
            return IngestResponse(503, error="no security layer in front of control messages: fail closed")
        decision = self.security.admit(message, node)
        if not decision.admitted:
            status = _CONTROL_STATUS.get(decision.reason, 400)
            return IngestResponse(status, outcome="CONTROL_REJECTED", error=f"{decision.reason}: {decision.detail}")
        self.control_log.append({"node": node, "author": decision.author, "nonce": decision.nonce,
                                 "kind": decision.kind, "lineage_id": decision.lineage_id})
        self.rt.record(PROCESS, "ok", "control_message", node=node, author=decision.author, nonce=decision.nonce,
                       lineage_id=decision.lineage_id)
        return IngestResponse(202, outcome="CONTROL_ACCEPTED")

    # ------------------------------------------------------------------ decision
    def _problems(self, envelope: Any) -> list[str]:
        if not isinstance(envelope, Mapping):
            return ["envelope is not an object"]
        problems = []
        for name in ("platform_run_id", "event_class", "event_id", "ts_utc"):
            if not isinstance(envelope.get(name), str) or not envelope.get(name):
                problems.append(f"{name} missing or not a non-empty string")
        if envelope.get("event_class") not in self.rt.handles.event_class_topics:
            problems.append(f"event_class {envelope.get('event_class')!r} unknown")
        if not isinstance(envelope.get("payload"), Mapping):
            problems.append("payload missing or not an object")
        return problems

    def _dedupe_key(self, envelope: Mapping[str, Any]) -> tuple[str, ...]:
        if self.rt.mutated("dedupe_ignores_run_id"):
            return (envelope["event_class"], envelope["event_id"])
        return (envelope["platform_run_id"], envelope["event_class"], envelope["event_id"])

    def _admit(self, envelope: Mapping[str, Any]) -> IngestResponse:
        problems = self._problems(envelope)
        if problems:
            env = envelope if isinstance(envelope, Mapping) else {}
            if self.rt.mutated("malformed_rejected_not_quarantined"):
                return IngestResponse(400, error="invalid envelope: " + "; ".join(problems))  # payload lost
            try:
                # What was received is kept whole (an unreadable body as its text), not the fields it lacked.
                key = self._quarantine(env, "invalid_envelope", "; ".join(problems), received=envelope)
            except Exception as error:  # no payload kept, no receipt: the sender retries
                return IngestResponse(503, error=f"quarantine store unavailable: {error}")
            return self._receipt(env, "QUARANTINE", payload_hash(env) if env else "", 200, payload_key=key,
                                 reason="; ".join(problems))
        phash = payload_hash(envelope)
        dkey = self._dedupe_key(envelope)
        seen = self.admission.get(dkey)
        if seen is not None and seen.state == "published":
            if seen.payload_hash == phash:
                if self.rt.mutated("mutable_receipts") and 1 <= seen.receipt_seq <= len(self.receipts):
                    # The drift: "touch" the original receipt in place instead of only appending.
                    original = self.receipts.entries()[seen.receipt_seq - 1]
                    self.receipts.rewrite(seen.receipt_seq, {**original, "last_seen_at_utc": self.rt.now_iso()})
                    self.rt.record(PROCESS, "ok", "receipt_rewrite", seq=seen.receipt_seq)
                return self._receipt(envelope, "DUPLICATE", phash, 200,
                                     skip_log=self.rt.mutated("receipts_unbalanced"))
            if not self.rt.mutated("payload_overwrite"):
                try:
                    key = self._quarantine(envelope, "payload_mismatch", f"payload hash {phash} differs from "
                                           f"the admitted {seen.payload_hash}")
                except Exception as error:
                    return IngestResponse(503, error=f"quarantine store unavailable: {error}")
                return self._receipt(envelope, "ANOMALY", phash, 200, payload_key=key, reason="payload_mismatch")
        return self._publish(envelope, phash, dkey)

    def _publish(self, envelope: Mapping[str, Any], phash: str, dkey: tuple[str, ...]) -> IngestResponse:
        event_class = envelope["event_class"]
        if event_class == SMOKE_EVENT_CLASS and self.rt.mutated("hardcoded_topic"):
            topic = "fp.bus.ig.smoke"  # the drift: a literal that is not in the handles registry
            self.rt.record(PROCESS, "ok", "handle_use", kind="topic", name=topic, key=None)
            if topic not in self.rt.bus.topics():
                self.rt.bus.create_topic(topic, 1)
        else:
            topic = self.rt.topic_for_class(event_class, PROCESS).name
        payload = envelope["payload"]
        key = str(payload.get("flow_id") or envelope["event_id"])
        ident = {"topic": topic, "key": key, "platform_run_id": envelope["platform_run_id"],
                 "event_class": event_class, "event_id": envelope["event_id"]}
        if self.rt.mutated("admit_without_publish") and event_class.startswith("context_"):
            self.admission.put(dkey, Admission(phash, "published", 0))
            resp = self._receipt(envelope, "ADMIT", phash, 200)
            self.admission.put(dkey, Admission(phash, "published", resp.receipt_seq or 0))
            return resp
        self.rt.record(PROCESS, "invoke", "publish", **ident)
        try:
            self.rt.faults.hit("ig.before_publish", **ident)
            partition, offset = self.rt.bus.produce(topic, key, dict(envelope),
                                                    {"payload_hash": phash, "producer": PROCESS})
            if self._ack_lost_once and event_class == "traffic_fraud":
                self._ack_lost_once = False
                raise PublishTimeout("ack not awaited (publish_ack_lost)")
        except PublishTimeout as timeout:
            if self.rt.mutated("hide_publish_ambiguity"):
                self.rt.record(PROCESS, "ok", "publish", **ident, partition=None, offset=None)
                resp = self._receipt(envelope, "ADMIT", phash, 200)
                self.admission.put(dkey, Admission(phash, "published", resp.receipt_seq or 0))
                return resp
            # Neither published nor failed: a later identical send republishes to resolve it.
            self.rt.record(PROCESS, "info", "publish", **ident, error=str(timeout))
            resp = self._receipt(envelope, "PUBLISH_AMBIGUOUS", phash, 202, reason=str(timeout))
            self.admission.put(dkey, Admission(phash, "ambiguous", resp.receipt_seq or 0))
            return resp
        except Exception as error:  # the bus refused: certainly not published, the sender may retry
            self.rt.record(PROCESS, "fail", "publish", **ident, error=str(error))
            return IngestResponse(503, error=f"publish to {topic!r} failed: {error}")
        if event_class == SMOKE_EVENT_CLASS and self.rt.mutated("publish_smoke_broken"):
            offset += 1
        self.rt.record(PROCESS, "ok", "publish", **ident, partition=partition, offset=offset)
        self.stats.published += 1
        self.stats.published_by_class[event_class] += 1
        # Published: admitted before its receipt is written, so a receipt store that fails now (the sender gets
        # a 503 and resends) turns the resend into a DUPLICATE, never a second publish.
        self.admission.put(dkey, Admission(phash, "published", 0))
        resp = self._receipt(envelope, "ADMIT", phash, 200, partition=partition, offset=offset)
        self.admission.put(dkey, Admission(phash, "published", resp.receipt_seq or 0))
        return resp

    # ------------------------------------------------------------------ durable outputs
    def _quarantine(self, envelope: Mapping[str, Any], reason: str, detail: str, *,
                    received: Any = None) -> str | None:
        if self.rt.mutated("quarantine_drops_payload"):
            return None
        ident = envelope.get("event_id") if isinstance(envelope.get("event_id"), str) else "no-id"
        self._quarantined += 1
        key = f"{self.quarantine_prefix}{reason}/{ident}-{self._quarantined:06d}.json"
        body = canonical_json({"reason": reason, "detail": detail,
                               "envelope": envelope if received is None else received,
                               "quarantined_at_utc": self.rt.now_iso()}).encode()
        self.write_quarantine(key, body)
        return key

    def write_quarantine(self, key: str, body: bytes) -> str:
        if self.rt.mutated("ig_s3_denied"):
            raise PermissionError(f"s3://{self.quarantine_bucket}/{key}: AccessDenied (IG role lacks PutObject)")
        return self.rt.store.put(self.quarantine_bucket, key, body, if_none_match=True)

    def _receipt(self, envelope: Mapping[str, Any], outcome: str, phash: str, status: int, *,
                 payload_key: str | None = None, reason: str | None = None, skip_log: bool = False,
                 partition: int | None = None, offset: int | None = None) -> IngestResponse:
        run_id = envelope.get("platform_run_id") if isinstance(envelope.get("platform_run_id"), str) else None
        event_class = envelope.get("event_class") if isinstance(envelope.get("event_class"), str) else None
        event_id = envelope.get("event_id") if isinstance(envelope.get("event_id"), str) else None
        self.stats.attempts += 1
        self.stats.by_class[str(event_class)] += 1
        if outcome in ("QUARANTINE", "ANOMALY") and len(self.stats.quarantine_items) < 1000:
            self.stats.quarantine_items.append({"event_id": event_id, "event_class": event_class,
                                                "reason": reason or outcome.lower(), "payload_key": payload_key})
        if skip_log:
            return IngestResponse(status, outcome, None)
        self.stats.by_outcome[outcome] += 1
        record = {"platform_run_id": run_id, "event_class": event_class, "event_id": event_id,
                  "outcome": outcome, "payload_hash": phash, "at_utc": self.rt.now_iso()}
        if payload_key is not None or outcome in ("QUARANTINE", "ANOMALY"):
            record["payload_key"] = payload_key
        seq = self.receipts.append(record)
        self.rt.record(PROCESS, "ok", "receipt_append", seq=seq, platform_run_id=run_id, event_class=event_class,
                       event_id=event_id, outcome=outcome, payload_hash=phash)
        self.rt.event(PROCESS, f"ingest.{outcome.lower()}", "ingest", event_id=event_id, event_class=event_class)
        return IngestResponse(status, outcome, seq, partition=partition, offset=offset)

    def try_rewrite_receipt(self, seq: int) -> bool:
        """The receipt_rewrite drill: True when the in-place update was refused."""
        entries = self.receipts.entries()
        if not entries:
            return True
        seq = max(1, min(seq, len(entries)))
        try:
            self.receipts.rewrite(seq, {**entries[seq - 1], "outcome": "REWRITTEN"})
        except Exception:
            self.rt.record("drill", "fail", "receipt_rewrite", seq=seq)
            return True
        self.rt.record("drill", "ok", "receipt_rewrite", seq=seq)
        return False

    def payload_of(self, dedupe_key: tuple[str, ...]) -> str | None:
        seen = self.admission.get(dedupe_key)
        return None if seen is None else seen.payload_hash
