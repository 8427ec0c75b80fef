"""Telemetry, metrics and run-history gates: the event taxonomy linter, instrumentation completeness (G1),
metric gate files, run-history gates (G4, G5/G7, No-Go) and the export of a bundle's metrics and events."""

from __future__ import annotations
