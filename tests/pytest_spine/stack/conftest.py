from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_spine.stack.fixture import SessionStack, services_stack_dir, session_stack


@pytest.fixture(scope="session")
def local_stack(pytestconfig: pytest.Config) -> Iterator[SessionStack]:
    """A running native stack (Kafka, S3 server, PostgreSQL for local_parity's control plane, Toxiproxy): reused
    when already up, else started here."""
    directory = services_stack_dir(pytestconfig.rootpath)
    with session_stack("native", stack_dir=directory, services=("kafka", "s3", "postgres", "toxiproxy")) as stack:
        yield stack
