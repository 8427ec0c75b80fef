"""Telemetry, metrics and run-history gates: the event taxonomy linter, instrumentation completeness (G1),
metric gate files, run-history gates (G4, G5/G7, No-Go) and the export of a bundle's metrics and events.

The public surface is this list; the modules behind it may change.
"""

from __future__ import annotations

from pytest_spine.telemetry.events import Event, EventSourceError, events_from_operations, load_events
from pytest_spine.telemetry.export import ExportError, export_bundle
from pytest_spine.telemetry.gatefile import GateFileError, MetricGate, evaluate_gate, load_gatefile, load_gates
from pytest_spine.telemetry.history_gates import HistoryPolicy, HistoryReport, evaluate_history
from pytest_spine.telemetry.lint import Finding, family_coverage, lint_all, lint_families
from pytest_spine.telemetry.metrics import MetricsFileError, load_simulator_json
from pytest_spine.telemetry.pii import PiiDetector
from pytest_spine.telemetry.run_records import RunHistoryError, RunRecord, open_store
from pytest_spine.telemetry.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

__all__ = [
    "Event", "EventSourceError", "ExportError", "Finding", "GateFileError", "HistoryPolicy", "HistoryReport",
    "MetricGate", "MetricsFileError", "PiiDetector", "RunHistoryError", "RunRecord", "Taxonomy", "TaxonomyError",
    "evaluate_gate", "evaluate_history", "events_from_operations", "export_bundle", "family_coverage", "lint_all",
    "lint_families", "load_events", "load_gatefile", "load_gates", "load_simulator_json", "load_taxonomy",
    "open_store",
]
