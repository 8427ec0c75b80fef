"""Errors of the reference control plane (it has its own tree: reference_impl never imports pytest_spine)."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base of every error the reference control plane raises on purpose."""


class StoreUnavailable(ControlPlaneError):
    """The durable store (the database) cannot be reached: an environment fault, not a broken invariant."""


class ReportingFailed(ControlPlaneError):
    """The heavy execution finished but its result could not be reported back to the store."""


class ExecutionFailed(ControlPlaneError):
    """A heavy execution failed with a transient error (it will be retried within the budget)."""
