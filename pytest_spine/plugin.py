"""pytest entry point (``pytest11 = spine``): options, the ``spine`` fixture, and session start/finish.

Thin on purpose: settings live in ``pytest_spine.settings``, per-run state in ``pytest_spine.session``,
the summary in ``pytest_spine.summary``. Inert unless ``--spine-env`` is given.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.options import add_spine_options

SUITE_DIR = Path(__file__).resolve().parent / "suite"
session_key = pytest.StashKey[Any]()
_previous_sigterm = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spine", "pytest-spine: verify an event-driven platform and attack it with chaos")
    add_spine_options(group.addoption)
    parser.addini("spine_evidence_dir", "Default for --spine-evidence-dir", default="reports")
    parser.addini("spine_history_dir", "Default for --spine-history-dir", default="")
    parser.addini("spine_metrics_dir", "Default for --spine-metrics-dir", default="")
    parser.addini("spine_env", "Default target when the suite is requested with --spine-env", default="reference")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spine_gate: a phase gate of the packaged spine suite")
    config.addinivalue_line("markers", "spine_invariant: an invariant checked over the run's history")
    config.addinivalue_line("markers", "spine_scenario: a chaos scenario of the packaged spine suite")
    config.addinivalue_line("markers", "spine_security: a security or abuse gate")
    config.addinivalue_line("markers", "spine_control_plane: a control-plane invariant or gate")
    config.addinivalue_line("markers", "spine_telemetry: a telemetry, metrics or run-history gate")
    config.addinivalue_line("markers", "spine_soak: the soak window of --spine-soak (collected only then)")
    config.addinivalue_line("markers", "services: needs real local services (a scenario of the local_parity stack)")
    config.addinivalue_line("markers", "slow: long-running (e.g. a 100,000-event flood); deselect with -m 'not slow'")
    if config.getoption("spine_env") is None:
        return
    from pytest_spine.settings import open_session

    spine = open_session(config)  # raises pytest.UsageError before any test runs
    config.stash[session_key] = spine
    _collect_packaged_suite(config)
    if getattr(config.option, "dist", "no") == "load":
        # One worker must own the phase machine (its evidence is write-once): keep xdist groups together.
        config.option.dist = "loadgroup"
    from pytest_spine.settings import share_xdist_groups

    share_xdist_groups(config)
    if not spine.settings.is_worker and _in_main_thread():
        config.stash[_previous_sigterm] = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def pytest_configure_node(node: Any) -> None:  # pytest-xdist: workers join the controller's bundle
    spine = node.config.stash.get(session_key, None)
    if spine is not None:
        node.workerinput["spine_run_id"] = spine.settings.platform_run_id
        node.workerinput["spine_evidence_dir"] = str(spine.settings.evidence_dir)
        from pytest_spine.settings import share_xdist_groups

        share_xdist_groups(node.config, node.workerinput)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spine = config.stash.get(session_key, None)
    if spine is None:
        return
    from pytest_spine.settings import arrange_items

    arrange_items(config, items, spine.settings)


@pytest.fixture(scope="session")
def spine(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The run's SpineSession: target, evidence bundle, history, and ``report(verdict)``."""
    session = request.config.stash.get(session_key, None)
    if session is None:
        pytest.fail("the spine fixture needs a spine run: pass --spine-env=reference (or local_parity, dev_min)",
                    pytrace=False)
    yield session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    if item.config.stash.get(session_key, None) is None:  # not a spine run: stay inert
        return (yield)
    from pytest_spine.session import TargetStartFailed

    try:
        return (yield)
    except TargetStartFailed as blocked:  # the first test showed the whole failure; the rest say it in a line
        pytest.fail(f"BLOCKED: {blocked}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    spine = session.config.stash.get(session_key, None)
    if spine is None:
        return
    from pytest_spine.settings import finish_session

    session.exitstatus = finish_session(session, spine, exitstatus)  # non-zero exactly when the gate says No-Go


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    spine = config.stash.get(session_key, None)
    if spine is None or spine.settings.is_worker:
        return
    from pytest_spine.summary import write_summary

    write_summary(terminalreporter, spine)


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_previous_sigterm, None)
    if previous is not None and _in_main_thread():
        signal.signal(signal.SIGTERM, previous)


def _collect_packaged_suite(config: pytest.Config) -> None:
    suite = str(SUITE_DIR)
    if not config.getoption("spine_soak"):
        config.option.ignore = [*(config.option.ignore or []), str(SUITE_DIR / "test_soak.py")]
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        if suite not in config.args:
            config.args.append(suite)
    else:  # nothing named on the command line: the packaged suite alone
        config.args[:] = [suite]


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
