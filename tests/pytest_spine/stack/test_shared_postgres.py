"""The stack's own PostgreSQL for local_parity's control plane: its DSN, or an error naming the fix when the
stack has none (there is no fallback to another store)."""

from __future__ import annotations

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.processes import ProcessRecord
from pytest_spine.stack.shared_postgres import stack_dsn
from pytest_spine.stack.state import ServiceState, StackState

DSN = "postgresql://spine@127.0.0.1:5999/postgres"


def _state(**services: ServiceState) -> StackState:
    return StackState("/tmp/some-stack", "native", "t", "/tmp/some-stack/handles.yaml", services)


def test_the_dsn_of_a_running_stack_postgres() -> None:
    # A service the stack does not own as a process (testcontainers) counts as running.
    assert stack_dsn(_state(postgres=ServiceState("postgres", None, {"dsn": DSN}))) == DSN


@pytest.mark.parametrize(("services", "what"), [
    ({}, "the local stack in /tmp/some-stack runs no PostgreSQL, and the control plane of local_parity runs on it "
         "(never on the in-memory store)"),
    ({"postgres": ServiceState("postgres", ProcessRecord("postgres", 2**22 + 7, 1, "/dev/null", ()), {"dsn": DSN})},
     f"the PostgreSQL of the local stack in /tmp/some-stack is not running (pid {2**22 + 7})"),
    ({"postgres": ServiceState("postgres", None, {})},
     "the PostgreSQL of the local stack in /tmp/some-stack records no 'dsn' endpoint"),
])
def test_no_usable_stack_postgres_is_an_environment_fault_naming_the_fix(services: dict[str, ServiceState],
                                                                         what: str) -> None:
    with pytest.raises(EnvironmentFault) as caught:
        stack_dsn(_state(**services))
    assert str(caught.value).startswith(what)
    assert str(caught.value).endswith("restart the stack with PostgreSQL: 'spine stack down --dir /tmp/some-stack' "
                                      "then 'spine stack up --dir /tmp/some-stack' (postgres is started unless "
                                      "--services leaves it out)")
