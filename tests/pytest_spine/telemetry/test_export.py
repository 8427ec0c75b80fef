from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from telemetry_builders import RUN_ID, clean_values

from pytest_spine.telemetry.export import ExportError, collect_tables, export_bundle
from pytest_spine.telemetry.taxonomy import load_taxonomy


def make(bundle_factory: Callable[..., Path]) -> Path:
    return bundle_factory(verdicts=[("SEC-REPLAY-REJECT", "security", "PASS")],
                          figures={"replay_rejection_ratio": 0.9995, "admitted": 120, "mode": "strict"},
                          events=clean_values())


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_export_writes_metrics_verdicts_and_events(bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = export_bundle(make(bundle_factory), out, "csv", load_taxonomy())
    assert sorted(p.name for p in written) == ["events.csv", "metrics.csv", "verdicts.csv"]
    metrics = rows(out / "metrics.csv")
    assert [(m["name"], m["value"], m["text"]) for m in metrics] == [
        ("admitted", "120.0", ""), ("mode", "", '"strict"'), ("replay_rejection_ratio", "0.9995", "")]
    events = rows(out / "events.csv")
    assert [(e["name"], e["family"], e["index"]) for e in events] == [
        ("ingest.admit", "ingest", "1"), ("security.sig_fail", "security", "2"),
        ("[:tocp,:security,:quarantine]", "security", "3"), ("control_plane.state_change", "control_plane", "4"),
        ("evidence.write", "evidence", "5")]
    assert {e["platform_run_id"] for e in events} == {RUN_ID}
    assert rows(out / "verdicts.csv")[0]["status"] == "PASS"


def test_parquet_export_reads_back(bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    export_bundle(make(bundle_factory), tmp_path / "out", "parquet")
    table = pq.read_table(tmp_path / "out" / "events.parquet")
    assert table.num_rows == 5
    assert table.column("name").to_pylist()[1] == "security.sig_fail"
    assert pq.read_table(tmp_path / "out" / "metrics.parquet").column("value").to_pylist() == [120.0, None, 0.9995]


def test_parquet_without_pyarrow_is_a_clear_message_and_writes_nothing(
        bundle_factory: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ExportError, match=r"pip install 'pytest-spine\[parquet\]'.*or export with --format csv"):
        export_bundle(make(bundle_factory), tmp_path / "out", "parquet")
    assert not (tmp_path / "out").exists()


def test_export_never_overwrites_and_leaves_nothing_half_written(
        bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.csv").write_text("mine\n")
    with pytest.raises(ExportError, match="already exist"):
        export_bundle(make(bundle_factory), out, "csv")
    assert sorted(p.name for p in out.iterdir()) == ["events.csv"]
    assert (out / "events.csv").read_text() == "mine\n"


def test_bad_bundles_are_refused(bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no bundle directory"):
        collect_tables(tmp_path / "absent")
    with pytest.raises(ExportError, match="not an evidence bundle"):
        collect_tables(tmp_path)
    bundle = bundle_factory(figures={"a": 1})
    (bundle / "run.json").write_text('{"platform_run_id": "platform_other"}')
    with pytest.raises(ExportError, match="mixed run ids"):
        collect_tables(bundle)
    (bundle / "run.json").write_text("{")
    with pytest.raises(ExportError, match="cannot be read as JSON"):
        collect_tables(bundle)


def test_xdist_parts_are_exported_with_the_controllers_tables(
        bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    bundle = make(bundle_factory)
    (bundle / "parts" / "gw0").mkdir(parents=True)
    (bundle / "parts" / "gw0" / "figures.json").write_text(json.dumps(
        {"platform_run_id": RUN_ID, "figures": {"worker_figure": 2}}))
    (bundle / "parts" / "gw0" / "verdicts.json").write_text(json.dumps(
        {"platform_run_id": RUN_ID, "verdicts": [{"id": "CP-STATE-LEGAL", "kind": "control_plane", "status": "PASS"}]}))
    tables = collect_tables(bundle)
    assert [m["name"] for m in tables.metrics] == ["admitted", "mode", "replay_rejection_ratio", "worker_figure"]
    assert [v["id"] for v in tables.verdicts] == ["SEC-REPLAY-REJECT", "CP-STATE-LEGAL"]
