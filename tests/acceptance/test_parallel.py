"""``pytest --spine-env=reference -n 2``: two xdist workers, one run id, one bundle. Each worker writes its part
(``parts/<worker>/``), the controller alone merges the verdicts and seals; ``spine evidence verify`` accepts it."""

from __future__ import annotations

import json

import pytest

from pytest_spine.evidence.verify import verify_bundle


def test_two_workers_leave_one_valid_bundle_with_their_parts_merged(pytester: pytest.Pytester) -> None:
    evidence = pytester.path / "reports"
    result = pytester.runpytest_subprocess("--spine-env=reference", "--spine-profile=pr", "-n", "2",
                                           f"--spine-evidence-dir={evidence}", "-p", "no:cacheprovider", "-v")
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*created: 2/2 workers*", "*Gate decision: Go*"])
    # The phase machine's items form one xdist group on one worker (a second phase run would collide on the
    # write-once run.json and fail P1): their node ids carry the group, and one worker ran them all.
    grouped = {line.split("]")[0] for line in result.stdout.lines
               if line.startswith("[gw") and "@spine-phases" in line}
    assert len(grouped) == 1, grouped
    others = {line.split("]")[0] for line in result.stdout.lines
              if line.startswith("[gw") and "test_scenario[" in line}
    assert others, "the ungrouped scenario items ran too"
    runs = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(runs) == 1, runs  # one run id for the controller and both workers
    bundle = runs[0]
    report = verify_bundle(bundle)
    assert report.ok, [str(p) for p in report.problems]
    assert report.spine_green

    parts = sorted(p.name for p in (bundle / "parts").iterdir())
    assert parts == ["gw0", "gw1"]
    merged = {v["id"]: v["status"] for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    from_parts: dict[str, str] = {}
    for worker in parts:
        part = json.loads((bundle / "parts" / worker / "verdicts.json").read_text())
        assert part["platform_run_id"] == bundle.name
        assert part["verdicts"], f"worker {worker} ran no check"
        from_parts.update((v["id"], v["status"]) for v in part["verdicts"])
    assert from_parts.items() <= merged.items()  # every worker's verdict is in the sealed verdicts.json
    assert {"P7-receipts_reconcile", "INV-DEDUPE-IDENTITY", "V12-GATE", "THETA03"} <= merged.keys()
    assert any(k.startswith("CH-REPLAY-FLOOD") for k in merged)

    # Every JSON document of the bundle carries the one run id; only the controller sealed.
    for path in bundle.rglob("*.json"):
        assert json.loads(path.read_text()).get("platform_run_id") == bundle.name, path
    assert not [p for p in (bundle / "parts").rglob("*") if p.name in ("manifest.json", "bundle_status.json")]
    manifest = json.loads((bundle / "manifest.json").read_text())["files"]
    assert {f"parts/{w}/verdicts.json" for w in parts} <= manifest.keys()
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["status"] == "complete" and status["gate_decision"]["decision"] == "Go"
