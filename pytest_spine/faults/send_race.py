"""The ``send_race`` kind: while active, every send of the workload leaves as ``copies`` identical requests over as
many connections at once, released together (a client retrying on several connections, or several senders of one
event).

It is the fault a harness can apply to a platform it did not write: a black box has no fault points to arm, but
its gate must still admit a tuple once however many copies race for it (a dedupe checked outside its lock
publishes the race's copies twice). Each copy is an ``ingest`` operation of its own process
(``<process>-race-<n>``), so the history shows every request. Rollback (``stop_race``) returns to single sends;
it is safe twice and after a failed injection. Only a driver with ``concurrent_ingest`` can run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from pytest_spine.faults.base import register_fault_kind
from pytest_spine.scenarios.driver import ChaosDriver, RacingDriver

CAPABILITY = "concurrent_ingest"
MAX_COPIES = 16
_KEYS = frozenset({"copies"})


class SendRaceKind:
    name = "send_race"
    rollbacks = frozenset({"stop_race"})
    needs = frozenset({CAPABILITY})

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = [(key, f"unknown parameter {key!r}; send_race takes copies") for key in sorted(set(params) - _KEYS)]
        copies = params.get("copies", 2)
        if not isinstance(copies, int) or isinstance(copies, bool) or not 2 <= copies <= MAX_COPIES:
            problems.append(("copies", f"must be a count of concurrent copies from 2 to {MAX_COPIES}, given: "
                                       f"{copies!r}"))
        return problems

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"every send leaves as {params.get('copies', 2)} concurrent copies over separate connections"

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None:
        cast(RacingDriver, driver).set_race(int(params.get("copies", 2)))

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None:
        set_race = getattr(driver, "set_race", None)
        if callable(set_race):
            set_race(1)


register_fault_kind(SendRaceKind())
