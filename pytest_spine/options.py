"""The ``spine`` option group. The CLI reuses these adders (pytest-benchmark's habit)."""

from __future__ import annotations

import re
from typing import Any

ENV_CHOICES = ("reference", "local_parity", "dev_min")
PROFILE_CHOICES = ("default", "pr")
STACK_CHOICES = ("native", "testcontainers")
DEFAULT_SEED = 1
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


def add_spine_options(addoption: Any, prefix: str = "spine-") -> None:
    addoption(f"--{prefix}env", dest="spine_env", default=None, metavar="ENV",
              help=f"Target to verify: {', '.join(ENV_CHOICES)} (default: reference). Giving it runs the "
                   "packaged gate, invariant and scenario suite")
    addoption(f"--{prefix}evidence-dir", dest="spine_evidence_dir", default=None, metavar="DIR",
              help="Where evidence bundles are written (default: reports/)")
    addoption(f"--{prefix}run-id", dest="spine_run_id", default=None, metavar="ID",
              help="The platform_run_id of this run (default: a fresh UTC-stamped id)")
    addoption(f"--{prefix}seed", dest="spine_seed", default=None, metavar="N",
              help=f"Seed for every generated world, workload and id (default: {DEFAULT_SEED})")
    addoption(f"--{prefix}mutant", dest="spine_mutant", default=None, metavar="NAME",
              help="Run against a named, deliberately broken variant of the reference implementation")
    addoption(f"--{prefix}scenario", dest="spine_scenario", action="append", default=[], metavar="ID",
              help="Run only these chaos scenarios (repeatable), e.g. CH-REPLAY-FLOOD")
    addoption(f"--{prefix}dry-run", dest="spine_dry_run", action="store_true", default=False,
              help="Validate the selected scenarios and print their plans without touching the target")
    addoption(f"--{prefix}profile", dest="spine_profile", default="default", metavar="NAME",
              help=f"Workload profile: {', '.join(PROFILE_CHOICES)} (pr = small workloads for PR gates)")
    addoption(f"--{prefix}soak", dest="spine_soak", default=None, metavar="DURATION",
              help="Repeat scenarios with fresh seeds for this wall time (e.g. 30m, 2h)")
    addoption(f"--{prefix}handles", dest="spine_handles", default=None, metavar="PATH",
              help="Handles registry (YAML or the Markdown table form) describing the environment")
    addoption(f"--{prefix}allow-destructive", dest="spine_allow_destructive", action="store_true",
              default=False, help="Allow sending traffic and injecting faults into a live (dev_min) environment")
    addoption(f"--{prefix}history-dir", dest="spine_history_dir", default=None, metavar="DIR|s3://BUCKET/PREFIX",
              help="Past runs (bundles and JUnit files) for the flake, consecutive-failure, SLO and error-budget "
                   "gates (also $SPINE_HISTORY_DIR)")
    addoption(f"--{prefix}metrics-dir", dest="spine_metrics_dir", default=None, metavar="DIR",
              help="Where the metrics files named by gate files live (simulator JSON, CSV; also "
                   "$SPINE_METRICS_DIR)")
    addoption(f"--{prefix}kpis", dest="spine_kpis", default=None, metavar="PATH",
              help="The operator's KPI figures for seed 001's KPI targets (YAML or JSON), judged on the scorecard")
    addoption(f"--{prefix}stack", dest="spine_stack", default="native", metavar="HOW",
              help=f"How local_parity starts its services: {', '.join(STACK_CHOICES)}")


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '2h' -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"--spine-soak must be a duration like 90s, 30m or 2h, given: {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    seconds = value * {"s": 1, "m": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise ValueError(f"--spine-soak must be positive, given: {text!r}")
    return seconds
