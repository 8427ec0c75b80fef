"""Named, deliberately broken variants of the control plane: each one must be killed by a CP-* check.

Selected with ``ControlPlane(mutant=NAME)`` (the harness passes ``--spine-mutant=NAME`` through).
"""

from __future__ import annotations

from collections.abc import Mapping

# name -> (the check that must kill it, what is broken)
CP_MUTANTS: Mapping[str, tuple[str, str]] = {
    "skip_queued": ("CP-STATE-LEGAL", "/resume moves an APPROVED job straight to RUNNING, skipping QUEUED"),
    "terminal_resumable": ("CP-TERMINAL-STICKY", "/resume re-queues FAILED/CANCELED/EXPIRED jobs without /recover"),
    "restart_requeues_running": ("CP-RESTART-STABLE", "a restart puts every RUNNING job back to QUEUED"),
    "approve_dispatches": ("CP-APPROVE-NO-DISPATCH", "/approve also dispatches heavy execution"),
    "resume_ignores_gates": ("CP-RESUME-GATED", "/resume dispatches jobs that were never approved"),
    "double_dispatch_on_resume": ("CP-RESUME-IDEMPOTENT", "a duplicate /resume dispatches the job again"),
    "replayed_update_new_job": ("CP-UPDATE-IDEMPOTENT", "a replayed /request update creates another job"),
    "dispatch_key_ignored": ("CP-DISPATCH-IDEMPOTENT", "the executor ignores the dispatch idempotency key"),
    "lease_never_expires": ("CP-LEASE-RECOVERY", "an expired lease is never reclaimed"),
    "two_owners": ("CP-SINGLE-OWNER", "a RUNNING job is claimed again while its lease is still valid"),
    "attempts_not_recorded": ("CP-ATTEMPTS-RECORDED", "attempt count and last error are not written"),
    "retry_tight_loop": ("CP-RETRY-BUDGET", "failed attempts retry at once and without a budget"),
    "lost_trace_id": ("CP-TRACEABLE", "worker-side records drop the trace id"),
    "silent_job_loss": ("CP-NO-SILENT-LOSS", "a job whose result cannot be reported is dropped silently"),
    # Killed by the v1.2 gate's measured figures rather than by an invariant.
    "poll_gives_up": ("V12-GATE", "the poller stops polling after a timeout (poll-timeout recovery < 95 %)"),
    "crash_on_rejection": ("V12-GATE", "a command that must be refused crashes the handler (success < 99 %)"),
}


def check_mutant_name(name: str | None) -> None:
    if name is not None and name not in CP_MUTANTS:
        raise ValueError(f"unknown control-plane mutant {name!r}; known: {', '.join(sorted(CP_MUTANTS))}")
