"""Every command in docs/rubric.md and docs/reading-a-scorecard.md runs, and prints what the docs show; every
command line of every other doc is run here or mapped to the test that runs it."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.cli import main
from pytest_spine.rubric.mapping import DEFAULT_RUBRIC

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _examples(name: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) from the ```console blocks of a doc."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", (DOCS / name).read_text(), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif line.strip() and found:
                found[-1][1].append(line.strip())
    return found


EXAMPLES = [(doc, cmd, out) for doc in ("rubric.md", "reading-a-scorecard.md") for cmd, out in _examples(doc)]


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize(("doc", "command", "expected"), EXAMPLES, ids=[f"{d}:{c[:60]}" for d, c, _ in EXAMPLES])
def test_doc_command(doc: str, command: str, expected: list[str], sealed_bundle: Any, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = {"RUN_DIR": lambda: sealed_bundle("platform_run"),
            "WEEK1_DIR": lambda: sealed_bundle("platform_week1", when="2026-02-10T09:00:00Z"),
            "WEEK2_DIR": lambda: sealed_bundle("platform_week2", when="2026-02-17T09:00:00Z"),
            "TAMPERED_DIR": lambda: _tampered(sealed_bundle("platform_tampered")),
            "RUBRIC_FILE": lambda: DEFAULT_RUBRIC}
    argv = shlex.split(command)
    assert argv[0] == "spine"
    argv = [str(dirs[a]()) if a in dirs else a for a in argv[1:]]
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    output = [" ".join(line.split()) for line in (captured.out + captured.err).splitlines()]
    assert code == (2 if "spine: error:" in " ".join(expected) else 0), captured
    for want in expected:
        pattern = "*" + " ".join(want.split()).replace("...", "*") + "*"
        assert any(fnmatch.fnmatchcase(line, pattern) for line in output), (want, output[-20:])


def _tampered(root: Path) -> Path:
    figures = root / "figures.json"
    figures.write_text(figures.read_text().replace("0.995", "0.1"))
    return root


# -- every command line of every doc is exercised ------------------------------------------------------------
# A command shown in a fenced shell block (```bash, ```sh, ```shell, or a "$ " line of ```console) of any
# docs/*.md is either run right here (RUN_HERE: cheap commands) or mapped to the test that runs it. A new doc
# command without an entry fails test_every_doc_command_is_exercised.
REPO = DOCS.parent
RUN_HERE = "run here"
CONSOLE_EXAMPLES = "tests/pytest_spine/rubric/test_docs.py::test_doc_command"
REAL_RUN = "tests/pytest_spine/rubric/test_real_bundle.py::test_the_run_ends_with_the_terminal_scorecard"
EXERCISED: tuple[tuple[str, str], ...] = (
    # quickstart.md: ./run main is `pytest --spine-env=reference` once the venv exists.
    ("./run main", REAL_RUN),
    ("./run main -m spine_gate",
     "tests/acceptance/test_reference_run.py::test_reference_passes_every_gate_and_leaves_a_valid_bundle"),
    ("./run main --spine-mutant=ack_before_write",
     "tests/acceptance/test_reference_run.py::test_each_mutant_fails_the_gates_it_breaks"),
    ("spine evidence verify reports/evidence/runs/<platform_run_id>", RUN_HERE),
    ("spine scorecard reports/evidence/runs/<platform_run_id> --format html --out scorecard.html", RUN_HERE),
    ("spine check reports/evidence/runs/<platform_run_id>/history/run.jsonl.gz",
     "tests/pytest_spine/commands/test_check.py::test_clean_generated_history_exits_0"),
    ("spine scenarios validate scenarios/", RUN_HERE),
    ("spine mutants list", RUN_HERE),
    # rubric.md, reading-a-scorecard.md: their console examples run with their expected output.
    ("spine rubric *", CONSOLE_EXAMPLES),
    ("spine scorecard *_DIR*", CONSOLE_EXAMPLES),
    # ci.md
    ("pytest --spine-env=reference --spine-profile=pr",
     "tests/acceptance/test_pr_gate.py::test_the_correct_reference_is_go_exits_0_and_the_junit_holds_the_gate_items"),
    ("pytest --spine-env=reference --spine-profile=pr --junitxml=*",
     "tests/acceptance/test_pr_gate.py::test_the_correct_reference_is_go_exits_0_and_the_junit_holds_the_gate_items"),
    ("pytest --spine-env=reference --spine-profile=pr --spine-mutant=dedupe_ignores_run_id",
     "tests/acceptance/test_pr_gate.py::test_a_mutant_is_no_go_exits_1_and_says_why"),
    ("pytest --spine-env=reference --spine-soak=*",
     "tests/pytest_spine/suite/test_soak.py::test_a_soak_stops_by_itself_and_its_figures_reach_the_v12_gate"),
    ("pytest --spine-env=reference -k test_soak --spine-soak=* --spine-mutant=*",
     "tests/pytest_spine/suite/test_soak.py::test_a_failing_iteration_prints_its_seed_and_the_replay_fails_the_same_way"),
    ("pytest --spine-env=reference -n 2",
     "tests/acceptance/test_parallel.py::test_two_workers_leave_one_valid_bundle_with_their_parts_merged"),
    ("spine bench checkers --ops 1000000 --save *",
     "tests/pytest_spine/benchmarks/test_baseline.py::test_the_command_saves_compares_and_exits_1_on_a_regression"),
    ("spine bench checkers --ops 1000000 --compare * --save *",
     "tests/pytest_spine/benchmarks/test_baseline.py::test_the_command_saves_compares_and_exits_1_on_a_regression"),
    # targets.md
    ("pytest --spine-env=reference", REAL_RUN),
    ("pytest --spine-env=reference --spine-mutant=ack_before_write",
     "tests/acceptance/test_reference_run.py::test_each_mutant_fails_the_gates_it_breaks"),
    ("spine stack up", "tests/pytest_spine/stack/test_lifecycle.py::test_stack_up_status_down_round_trip"),
    ("spine stack down", "tests/pytest_spine/stack/test_lifecycle.py::test_stack_up_status_down_round_trip"),
    ("pytest --spine-env=local_parity",
     "tests/pytest_spine/stack/test_local_parity_target.py::test_local_parity_runs_the_same_phase_machine_as_reference"),
    ("pytest --spine-env=dev_min --spine-handles=* --spine-run-id=* --spine-allow-destructive",
     "tests/pytest_spine/targets/test_external.py::test_a_clean_platform_is_green_when_the_harness_drives_it"),
    ("pytest --spine-env=dev_min --spine-handles=* --spine-run-id=*",
     "tests/pytest_spine/targets/test_external.py::test_the_loopback_stack_posing_as_dev_min_is_green_read_only"),
    # verifying-your-platform.md
    ("pytest --spine-env=local_parity --spine-handles=* --spine-run-id=* --spine-allow-destructive",
     "tests/pytest_spine/targets/test_external.py::test_a_clean_platform_is_green_when_the_harness_drives_it"),
    ("pytest --spine-env=local_parity --spine-handles=* --spine-run-id=*",
     "tests/pytest_spine/targets/test_external.py::test_a_clean_platform_is_green_read_only_and_nothing_is_sent_to_it"),
    ("spine checks list", RUN_HERE),
)
# Shown but not run by any test, each with the reason; keep this list short.
NOT_RUN: dict[str, str] = {
    "./run tests": "it is the project's own test run: CI runs it, a test cannot run the suite it belongs to",
}


def doc_commands() -> list[tuple[str, str]]:
    """(doc, command) for every command line in a fenced shell block of docs/*.md; ``.venv/bin/`` dropped."""
    found: list[tuple[str, str]] = []
    for doc in sorted(DOCS.glob("*.md")):
        for lang, block in re.findall(r"```(bash|sh|shell|console)\n(.*?)```", doc.read_text(), re.S):
            for raw in block.splitlines():
                line = raw.strip()
                if lang == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                elif not line or line.startswith("#"):
                    continue
                line = re.sub(r"\s+#.*$", "", line).removeprefix(".venv/bin/")
                found.append((doc.name, line))
    return found


def exercised_by(command: str) -> str | None:
    for pattern, where in EXERCISED:
        if command == pattern or fnmatch.fnmatchcase(command, pattern):
            return where
    return None


def test_every_doc_command_is_exercised() -> None:
    commands = doc_commands()
    assert len(commands) >= 25
    unmapped = [f"{doc}: {command}" for doc, command in commands
                if exercised_by(command) is None and command not in NOT_RUN]
    assert unmapped == [], ("these doc commands are run by no test; run them in a test and add them to "
                            "EXERCISED in tests/pytest_spine/rubric/test_docs.py", unmapped)


def test_every_mapping_names_a_test_that_exists() -> None:
    for _, where in EXERCISED:
        if where == RUN_HERE:
            continue
        path, _, name = where.partition("::")
        source = (REPO / path).read_text()
        assert f"def {name}(" in source, f"{where}: no such test"


def test_an_unmapped_command_is_caught() -> None:
    assert exercised_by("spine stack nuke --everything") is None
    assert exercised_by("pytest --spine-env=reference --spine-profile=pr --spine-mutant=other") is None


RUN_HERE_COMMANDS = sorted({command for _, command in doc_commands() if exercised_by(command) == RUN_HERE})


@pytest.mark.parametrize("command", RUN_HERE_COMMANDS)
def test_cheap_doc_command_runs(command: str, sealed_bundle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    bundle = str(sealed_bundle("platform_docs"))
    argv = [a.replace("reports/evidence/runs/<platform_run_id>", bundle) for a in shlex.split(command)]
    assert argv[0] == "spine"
    argv = [str(tmp_path / a) if a.endswith(".html") else a for a in argv[1:]]
    monkeypatch.chdir(REPO)  # `scenarios/` is the repository's folder
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, (command, captured.out[-2000:], captured.err[-2000:])
    if "--out" in argv:
        assert Path(argv[argv.index("--out") + 1]).read_text().startswith("<!DOCTYPE html>")


def _workflow_commands() -> list[tuple[str, str]]:
    import yaml

    found = []
    for path in sorted((DOCS / "examples").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        assert workflow.get("jobs"), f"{path.name}: no jobs"
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                for line in str(step.get("run", "")).splitlines():
                    if line.strip().startswith(("spine ", "pytest ")):
                        found.append((path.name, line.strip()))
    return found


@pytest.mark.parametrize(("workflow", "command"), _workflow_commands())
def test_example_workflows_use_real_commands_and_options(workflow: str, command: str) -> None:
    """Parsed, not run: every spine sub-command and option, and every --spine-* option, exists."""
    from pytest_spine.cli import build_parser
    from pytest_spine.options import add_spine_options

    argv = shlex.split(command)
    if argv[0] == "spine":
        build_parser().parse_args(argv[1:])  # SystemExit on an unknown sub-command or option
        return
    known: set[str] = set()
    add_spine_options(lambda *names, **_: known.update(names))
    used = {a.split("=", 1)[0] for a in argv[1:] if a.startswith("--spine-")}
    assert used <= known, (workflow, sorted(used - known))


def test_a_workflow_command_with_a_wrong_option_is_caught() -> None:
    with pytest.raises(SystemExit):
        test_example_workflows_use_real_commands_and_options("x.yml", "spine bench checkers --compare-to base.json")
    with pytest.raises(AssertionError):
        test_example_workflows_use_real_commands_and_options("x.yml", "pytest --spine-env=reference --spine-soke=30m")
