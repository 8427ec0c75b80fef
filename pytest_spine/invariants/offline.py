"""The checking context of an offline re-check: what a stored bundle and a handles file tell the checkers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_spine.errors import EvidenceError
from pytest_spine.invariants.registry import CheckContext


def context_for(bundle: Path | None = None, handles: Path | None = None,
                run_scope: str | None = None) -> CheckContext:
    evidence: Any = None
    required: tuple[str, ...] | None = None
    run_id = run_scope
    if bundle is not None:
        from pytest_spine.evidence.bundle import EvidenceBundle
        from pytest_spine.evidence.contract import PHASE_FILES
        from pytest_spine.evidence.verify import resolve_bundle

        root = resolve_bundle(bundle)
        if not root.is_dir():
            raise EvidenceError(f"bundle {bundle} is not a directory; pass a run directory "
                                "(<evidence-dir>/evidence/runs/<platform_run_id>) or its evidence dir")
        evidence = EvidenceBundle(root.parents[2], root.name, validate=False)
        # The platform's contract files; the harness's own files are written after the checks ran.
        required = tuple(path for files in PHASE_FILES.values() for path in files)
        run_id = run_id or root.name
    options: dict[str, Any] = {"run_scope_enforced": run_scope is not None}
    if handles is not None:
        from pytest_spine.handles import load_registry

        options["handles_registry"] = load_registry(handles)
    return CheckContext(platform_run_id=run_id, evidence=evidence, required_evidence=required,
                        options=options)
