"""The session-scoped stack for pytest: reuse a stack that ``spine stack up`` already started, or start one
for the session and stop it at the end (only what this session started).

The plugin wires it as a fixture, e.g.::

    @pytest.fixture(scope="session")
    def spine_stack(request):
        with session_stack(request.config.getoption("spine_stack") or "native") as stack:
            yield stack
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import TargetUnavailable
from pytest_spine.handles import HandlesRegistry
from pytest_spine.stack.state import StackState, read_state

STACK_DIR_ENV = "SPINE_STACK_DIR"
STACK_MODES = ("native", "testcontainers")


@dataclass(frozen=True, slots=True)
class SessionStack:
    state: StackState
    owned: bool  # True when this session started it (and so stops it)

    def endpoint(self, name: str) -> str:
        return self.state.endpoint(name)


def stack_dir_default() -> Path:
    return Path(os.environ.get(STACK_DIR_ENV, ".spine/stack"))


def running_stack(stack_dir: Path | None = None) -> StackState | None:
    """The stack recorded in ``stack_dir`` when all its services are alive, else None."""
    state = read_state((stack_dir or stack_dir_default()).resolve())
    if state is None or not all(s.running() for s in state.services.values()):
        return None
    return state


@contextmanager
def session_stack(mode: str = "native", *, stack_dir: Path | None = None, services: Iterable[str] | None = None,
                  registry: HandlesRegistry | None = None) -> Iterator[SessionStack]:
    """Yield a running stack; stops it afterwards only if it was started here (also on failure)."""
    if mode not in STACK_MODES:
        raise TargetUnavailable(f"--spine-stack must be one of {', '.join(STACK_MODES)}, given: {mode!r}")
    if mode == "testcontainers":
        from pytest_spine.stack.containers import container_stack

        with container_stack(services=services, registry=registry) as state:
            yield SessionStack(state, owned=True)
        return
    from pytest_spine.stack.lifecycle import stack_down, stack_up

    directory = (stack_dir or stack_dir_default()).resolve()
    existing = running_stack(directory)
    if existing is not None:
        wanted = set(services or existing.services)
        if wanted <= set(existing.services):
            yield SessionStack(existing, owned=False)
            return
    state = stack_up(directory, services, registry=registry)
    try:
        yield SessionStack(state, owned=True)
    finally:
        stack_down(directory)


def services_stack_dir(rootpath: Path) -> Path:
    """Where the ``services``-marked tests find or start their stack: ``$SPINE_STACK_DIR`` (e.g. the one
    ``.ci/run`` started with ``spine stack up``), else ``<rootdir>/.spine/stack``."""
    explicit = os.environ.get(STACK_DIR_ENV)
    return Path(explicit) if explicit else rootpath / ".spine" / "stack"
