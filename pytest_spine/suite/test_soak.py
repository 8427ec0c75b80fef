"""The nightly soak (``--spine-soak=DURATION``): ``test_soak`` repeats the chaos scenarios with fresh seeds for
the given wall time and reports ``SOAK-WINDOW``. Collected only when a soak is asked for.

It shares the xdist group of the v1.2 gate item, which measures its figures over the same window
(one window per session, whichever item asks first; the plugin runs this item first).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.scenarios.soak_session import soak_verdict, soak_window


@pytest.mark.spine_soak
@pytest.mark.xdist_group("spine-phases")
def test_soak(spine: Any, request: pytest.FixtureRequest) -> None:
    if spine.settings.dry_run:
        pytest.skip("NOT_APPLICABLE: dry run, the target is not touched")
    window = soak_window(spine, request.config)
    spine.report(soak_verdict(window, spine.settings.env, spine.settings.mutant))
