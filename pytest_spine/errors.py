"""One error tree for everything the harness reports as a usage or input problem.

Every message names the object, quotes the bad value and says the fix (the house style).
"""

from __future__ import annotations


class SpineError(Exception):
    """Base of every error pytest-spine raises on purpose."""


class ConfigError(SpineError):
    """An option, ini key or environment value is wrong."""


class EvidenceError(SpineError):
    """An evidence bundle cannot be written or read as the contract says."""


class SchemaViolation(EvidenceError):
    """A document does not validate against its JSON Schema."""

    def __init__(self, where: str, schema: str, problems: list[str]) -> None:
        self.where = where
        self.schema = schema
        self.problems = problems
        detail = "; ".join(problems[:5])
        super().__init__(f"{where} does not validate against {schema}: {detail}")


class WriteOnceViolation(EvidenceError):
    """An evidence file already exists: evidence is never overwritten."""


class ScenarioError(SpineError):
    """A scenario file is malformed; carries the file and the place."""

    def __init__(self, path: str, place: str, reason: str) -> None:
        self.path = path
        self.place = place
        self.reason = reason
        super().__init__(f"{path}: at {place}: {reason}")


class HistoryError(SpineError):
    """A recorded history is truncated or not JSON lines."""


class TargetUnavailable(SpineError):
    """The selected target cannot be reached or is not available in this build."""


class EnvironmentFault(SpineError):
    """The environment (database, broker, bucket) failed: not an invariant violation."""
