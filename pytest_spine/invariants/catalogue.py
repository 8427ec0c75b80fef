"""Which modules hold checkers: the built-in families, and the ones other engineers plug in.

Importing a family registers its checkers; :func:`load_builtin` does it once, lazily, so the plugin's
import stays light.
"""

from __future__ import annotations

import importlib

# Our families first; control_plane and security are owned elsewhere and load when they exist.
FAMILIES: tuple[str, ...] = ("ingest", "stores", "streaming", "evidence", "control_plane", "security")

# The drift invariants of seed 003 §7 (MISSION.md): each must have a checker.
DRIFT_INVARIANTS: tuple[str, ...] = (
    "INV-DEDUPE-IDENTITY", "INV-PAYLOAD-ANOMALY", "INV-APPEND-ONLY", "INV-STREAM-VIEW-FIRST",
    "INV-READY-BEFORE-STREAM", "INV-COMMIT-AFTER-WRITE", "INV-EXPLICIT-DEGRADE", "INV-SINGLE-WRITER",
    "INV-IG-ONLY-PUBLISHER", "INV-RUN-SCOPE", "INV-NO-PUBLISH-AMBIGUITY", "INV-IDEMPOTENT-ACTIONS",
    "INV-RECEIPTS-RECONCILE", "INV-REPLAY-ANCHORS", "INV-HANDLES", "INV-EVIDENCE-COMPLETE",
)

_loaded = False


def load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for family in FAMILIES:
        name = f"pytest_spine.invariants.{family}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
