"""One observation pass over an external platform: topics, lanes, buckets and the run's evidence, each read
by the harness itself and appended to the History as observations (process ``observer``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.handles import HandleError, HandlesRegistry
from pytest_spine.observe.buckets import BucketObserver, ObjectUnreadable
from pytest_spine.observe.substrate import Observations, observe_lanes, read_topics
from pytest_spine.observe.topics import TopicRecord
from pytest_spine.targets.base import EvidenceSink, Recorder
from pytest_spine.targets.platform_spec import PlatformSpec

OBSERVER = "observer"
MAX_RECEIPTS = 200_000


def _contract(name: str) -> Any:
    """A validator of one object shape of the platform contract (``schemas/platform/``), built once per pass."""
    import jsonschema

    from pytest_spine.evidence.schemas import load_schema

    return jsonschema.Draft202012Validator(load_schema(f"platform/{name}"))


def _violation(validator: Any, document: Any) -> str | None:
    error = next(iter(validator.iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(document)"
    return f"at {where}: {error.message}"


def _prefix(registry: HandlesRegistry, key: str, **params: str) -> str | None:
    try:
        return registry.prefix(key, **params)
    except HandleError:
        return None


def observe_platform(registry: HandlesRegistry, spec: PlatformSpec, run_id: str, *, topics: Any, groups: Any,
                     buckets: BucketObserver, evidence: EvidenceSink | None, recorder: Recorder | None,
                     deadline_s: float, database: Any = None) -> Observations:
    obs = Observations(run_id)

    def record(f: str, **value: Any) -> None:
        if recorder is not None:
            recorder.record(OBSERVER, "ok", f, **value)

    obs.topics_on_broker = topics.topics()
    for key, name in registry.section("buckets").items():
        obs.buckets[key] = buckets.bucket_exists(name)

    def on_record(rec: TopicRecord, ident: Any) -> None:
        if ident is not None:
            record("topic_record", topic=rec.topic, partition=rec.partition, offset=rec.offset,
                   platform_run_id=ident[0], event_class=ident[1], event_id=ident[2],
                   payload_hash=rec.headers.get("payload_hash"))

    observed = [t for t in spec.observed_topics() if t in obs.topics_on_broker]
    for missing in sorted(set(spec.observed_topics()) - set(observed)):
        obs.notes.append(f"topic {missing} is not on the broker")
    read_topics(topics, obs, observed, ingest=spec.ingest_topics, outputs=[lane.output for lane in spec.lanes],
                control=spec.control_topic, deadline_s=deadline_s, on_record=on_record)
    for name, view in sorted(obs.topics.items()):
        record("topic_watermarks", topic=name,
               partitions={str(p): [m.low, m.high] for p, m in sorted(view.watermarks.items())},
               run_records=view.run_records(), foreign_records=sum(len(v) for v in view.foreign_by_partition.values()))

    obs.lanes = observe_lanes(groups, spec.lanes, lambda t: sorted(p for (tt, p) in _partitions(obs, t) if tt == t))
    for lane in obs.lanes.values():
        record("group_offsets", group=lane.group_id,
               committed={f"{t}[{p}]": o for (t, p), o in sorted(lane.committed.items())})
        record("group_members", group=lane.group_id, state=lane.state.state if lane.state else None,
               members=[m.client_id for m in lane.state.members] if lane.state else [])

    if database is not None:
        from pytest_spine.errors import EnvironmentFault

        try:
            obs.database = database.table_counts(spec.database_tables)
            record("database_counts", tables=dict(obs.database))
        except EnvironmentFault as error:
            obs.notes.append(str(error))
            record("database_counts", error=str(error))
    _observe_receipts(registry, run_id, buckets, obs, record)
    _observe_evidence(registry, run_id, buckets, evidence, obs, record)
    _observe_stream_view(registry, run_id, buckets, obs)
    return obs


def _partitions(obs: Observations, topic: str) -> list[tuple[str, int]]:
    view = obs.topics.get(topic)
    if view is not None and view.watermarks:
        return [(topic, p) for p in view.watermarks]
    return [(topic, p) for p in range(obs.topics_on_broker.get(topic, 0))]


def _observe_receipts(registry: HandlesRegistry, run_id: str, buckets: BucketObserver, obs: Observations,
                      record: Any) -> None:
    prefix = _prefix(registry, "S3_RECEIPTS_PREFIX_PATTERN", platform_run_id=run_id)
    if prefix is None:
        obs.receipt_problems.append("the registry names no S3_RECEIPTS_PREFIX_PATTERN: receipts are not observed")
        return
    sections = registry.section("buckets")
    bucket = sections.get("S3_RECEIPTS_BUCKET", sections.get("S3_EVIDENCE_BUCKET", ""))
    listing = buckets.list(bucket, prefix, limit=MAX_RECEIPTS)
    receipt_shape, quarantine_shape = _contract("receipt_object"), _contract("quarantine_object")
    for item in listing:
        try:
            document = buckets.get_json(bucket, item.key)
        except ObjectUnreadable as error:
            obs.receipt_problems.append(str(error))
            continue
        if document is None:
            continue
        if document.get("platform_run_id") != run_id:
            obs.receipt_problems.append(f"s3://{bucket}/{item.key} is a receipt of run "
                                        f"{document.get('platform_run_id')!r}, not {run_id!r}")
            continue
        bad = _violation(receipt_shape, document)
        if bad is not None:
            obs.receipt_problems.append(f"s3://{bucket}/{item.key} is not a contract receipt "
                                        f"(schemas/platform/receipt_object.schema.json) {bad}")
        obs.receipts.append(document)
    record("bucket_listing", bucket=bucket, prefix=prefix, objects=len(listing), receipts=len(obs.receipts))
    quarantine_bucket = sections.get("S3_QUARANTINE_BUCKET", "")
    for receipt in obs.receipts:
        if receipt.get("outcome") not in ("QUARANTINE", "ANOMALY"):
            continue
        key = receipt.get("payload_key")
        where = f"receipt {receipt.get('receipt_seq')} ({receipt.get('outcome')} of {receipt.get('event_id')!r})"
        if not isinstance(key, str) or not key:
            obs.quarantine_problems.append(f"{where} names no payload_key")
            continue
        try:
            document = buckets.get_json(quarantine_bucket, key)
        except ObjectUnreadable as error:
            obs.quarantine[key] = None
            obs.quarantine_problems.append(f"{where}: {error}")
            continue
        obs.quarantine[key] = document
        if document is None:
            obs.quarantine_problems.append(f"{where}: s3://{quarantine_bucket}/{key} does not exist")
        elif not _holds_payload(document.get("envelope")):
            obs.quarantine_problems.append(f"{where}: s3://{quarantine_bucket}/{key} holds no envelope")
        elif (bad := _violation(quarantine_shape, document)) is not None:
            obs.quarantine_problems.append(f"{where}: s3://{quarantine_bucket}/{key} is not a contract quarantine "
                                           f"object (schemas/platform/quarantine_object.schema.json) {bad}")


def _holds_payload(envelope: Any) -> bool:
    if isinstance(envelope, Mapping):
        return bool(envelope)
    return isinstance(envelope, str) and bool(envelope)


def _observe_evidence(registry: HandlesRegistry, run_id: str, buckets: BucketObserver,
                      evidence: EvidenceSink | None, obs: Observations, record: Any) -> None:
    from pytest_spine.errors import SpineError

    bucket = registry.bucket("S3_EVIDENCE_BUCKET")
    root = registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=run_id)
    listing = buckets.list(bucket, root)
    obs.evidence_keys = [item.key for item in listing]
    for item in listing:
        relpath = item.key[len(root):]
        if not relpath.endswith(".json") or relpath.startswith(("_", ".")) or "/." in relpath:
            continue
        try:
            document = buckets.get_json(bucket, item.key)
        except ObjectUnreadable as error:
            obs.evidence_problems[relpath] = str(error)
            continue
        if document is None:
            continue
        claimed = document.get("platform_run_id")
        if claimed != run_id:
            obs.evidence_problems[relpath] = (f"it names platform_run_id {claimed!r}, not this run's {run_id!r} "
                                              "(never re-stamped)")
            continue
        if evidence is None:
            continue
        try:
            evidence.put(relpath, document)
        except SpineError as error:
            obs.evidence_problems[relpath] = f"not valid evidence: {error}"
            continue
        obs.evidence_imported.append(relpath)
    record("evidence_import", bucket=bucket, prefix=root, objects=len(listing), imported=len(obs.evidence_imported),
           refused=dict(sorted(obs.evidence_problems.items())))


def _observe_stream_view(registry: HandlesRegistry, run_id: str, buckets: BucketObserver,
                         obs: Observations) -> None:
    if "oracle/stream_sort_summary.json" not in obs.evidence_imported:
        return
    from pytest_spine.observe.buckets import strict_json

    sections = registry.section("buckets")
    bucket = sections.get("S3_ORACLE_BUCKET", "")
    summary = _read_imported(registry, run_id, buckets, "oracle/stream_sort_summary.json")
    outputs = summary.get("outputs", {}) if isinstance(summary, Mapping) else {}
    for output_id in sorted(outputs):
        prefix = _prefix(registry, "S3_STREAM_VIEW_PREFIX_PATTERN", platform_run_id=run_id, output_id=output_id)
        if prefix is None:
            obs.stream_view_problems.append("the registry names no S3_STREAM_VIEW_PREFIX_PATTERN")
            return
        rows = 0
        for item in buckets.list(bucket, prefix):
            if not item.key.endswith(".jsonl"):
                continue
            raw = buckets.get(bucket, item.key) or b""
            for n, line in enumerate(raw.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    strict_json(line)
                except ValueError as error:
                    obs.stream_view_problems.append(f"s3://{bucket}/{item.key} line {n}: {error}")
                    continue
                rows += 1
        obs.stream_view_rows[str(output_id)] = rows


def _read_imported(registry: HandlesRegistry, run_id: str, buckets: BucketObserver, relpath: str) -> Any:
    root = registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=run_id)
    try:
        return buckets.get_json(registry.bucket("S3_EVIDENCE_BUCKET"), root + relpath)
    except ObjectUnreadable:
        return None
