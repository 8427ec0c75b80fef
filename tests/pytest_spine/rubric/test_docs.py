"""Every command in docs/rubric.md and docs/reading-a-scorecard.md runs, and prints what the docs show."""

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
