"""The ``platform`` section of a handles registry: a platform under test reached as a black box.

It names what the harness needs beyond the handles themselves: which topic each event class is published to,
the control topic, the consumer lanes (inputs and output, so commits can be judged against outputs), the
commands that start, run and tear down the platform's own run, and the timeouts. Validated by the registry's
schema; this module only gives it types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.handles import HandleError, HandlesRegistry

COMMANDS = ("start", "run", "close", "teardown")


@dataclass(frozen=True, slots=True)
class Lane:
    group_key: str
    group_id: str
    inputs: tuple[str, ...]  # topic names
    output: str  # topic name


@dataclass(frozen=True, slots=True)
class ChaosBudgets:
    """``platform.chaos_budgets``: what one chaos scenario may send to the platform (None = the harness's default).
    A registry can only lower the harness's defaults (``pytest_spine.scenarios.black_box_driver``)."""

    max_events: int | None = None
    max_rate_per_s: float | None = None
    max_duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    name: str
    event_class_topics: Mapping[str, str]  # event_class -> topic name
    control_topic: str | None
    lanes: tuple[Lane, ...]
    commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    request_timeout_s: float = 5.0
    command_timeout_s: float = 600.0
    settle_s: float = 30.0
    database_dsn_env: str | None = None
    database_tables: tuple[str, ...] = ()
    traffic_source: str = "platform"  # or "harness": the harness streams the run's stream_view through the gate
    traffic_connections: int = 2
    traffic_max_events: int = 100_000
    chaos_budgets: ChaosBudgets = ChaosBudgets()

    @property
    def ingest_topics(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.event_class_topics.values())))

    def observed_topics(self) -> tuple[str, ...]:
        """Every topic the harness reads: the gate's, the lanes' inputs and outputs, the control topic."""
        names = set(self.event_class_topics.values())
        for lane in self.lanes:
            names.update(lane.inputs)
            names.add(lane.output)
        if self.control_topic:
            names.add(self.control_topic)
        return tuple(sorted(names))


def platform_spec(registry: HandlesRegistry) -> PlatformSpec | None:
    """The registry's platform section, with handle keys resolved to names; None when it has none."""
    section: Any = registry.document.get("platform")
    if not isinstance(section, Mapping):
        return None
    event_classes = {str(cls): registry.topic(str(key)).name
                     for cls, key in dict(section.get("event_classes", {})).items()}
    groups = registry.section("consumer_groups")
    lanes = []
    for group_key, lane in dict(section.get("lanes", {})).items():
        if group_key not in groups:
            raise HandleError(f"platform.lanes names the consumer group handle {group_key!r}, which is not in "
                              f"'consumer_groups' of {registry.source}; add it there")
        lanes.append(Lane(group_key, groups[group_key], tuple(registry.topic(k).name for k in lane["inputs"]),
                          registry.topic(lane["output"]).name))
    control = section.get("control_topic")
    timeouts: Mapping[str, Any] = section.get("timeouts", {})
    database: Mapping[str, Any] = section.get("database", {})
    traffic: Mapping[str, Any] = section.get("traffic", {})
    budgets: Mapping[str, Any] = section.get("chaos_budgets", {})
    return PlatformSpec(
        name=str(section.get("name", "platform")),
        event_class_topics=event_classes,
        control_topic=registry.topic(str(control)).name if control else None,
        lanes=tuple(lanes),
        commands={name: tuple(argv) for name, argv in dict(section.get("commands", {})).items()},
        request_timeout_s=float(timeouts.get("request_s", 5.0)),
        command_timeout_s=float(timeouts.get("command_s", 600.0)),
        settle_s=float(timeouts.get("settle_s", 30.0)),
        database_dsn_env=database.get("dsn_env"),
        database_tables=tuple(database.get("tables", ())),
        traffic_source=str(section.get("traffic_source", "platform")),
        traffic_connections=int(traffic.get("connections", 2)),
        traffic_max_events=int(traffic.get("max_events", 100_000)),
        chaos_budgets=ChaosBudgets(
            max_events=int(budgets["max_events"]) if "max_events" in budgets else None,
            max_rate_per_s=float(budgets["max_rate_per_s"]) if "max_rate_per_s" in budgets else None,
            max_duration_s=float(budgets["max_duration_s"]) if "max_duration_s" in budgets else None),
    )
