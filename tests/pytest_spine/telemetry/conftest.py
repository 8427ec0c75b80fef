"""Fixtures for the telemetry tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The project imports tests with --import-mode=importlib (no sys.path entry per test dir); the builders
# beside this file are shared by these tests and tests/pytest_spine/commands, so make them importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from telemetry_builders import write_bundle


@pytest.fixture
def bundle_factory(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(**kw: Any) -> Path:
        return write_bundle(tmp_path / f"b{next(counter)}", **kw)

    return make
