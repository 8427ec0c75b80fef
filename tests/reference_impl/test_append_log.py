from __future__ import annotations

import pytest

from reference_impl.append_log import AppendOnlyLog
from reference_impl.errors import AppendOnlyViolation


def test_seq_increases_and_a_rewrite_is_refused() -> None:
    log = AppendOnlyLog("receipts")
    assert [log.append({"n": i}) for i in range(3)] == [1, 2, 3]
    with pytest.raises(AppendOnlyViolation, match="receipts: entry seq 2 is append-only truth"):
        log.rewrite(2, {"n": 99})
    assert log.entries()[1] == {"n": 1, "seq": 2}
    status = log.status()
    assert (status.verified, status.rewrites_accepted, status.rewrites_refused) == (True, 0, 1)


def test_a_log_built_to_allow_rewrites_is_caught_by_verify() -> None:
    log = AppendOnlyLog("audit", allow_rewrite=True)
    log.append({"n": 1})
    log.rewrite(1, {"n": 2})
    status = log.status()
    assert (status.verified, status.rewrites_accepted) == (False, 1)


def test_idempotency_keys_remember_the_first_seq() -> None:
    log = AppendOnlyLog("cases")
    assert log.append({"a": 1}, idempotency_key="k") == 1
    assert log.append({"a": 2}, idempotency_key="k") == 2
    assert log.seq_for("k") == 1
    assert log.seq_for("other") is None
