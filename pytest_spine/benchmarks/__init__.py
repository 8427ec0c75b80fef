"""Benchmarks for ``spine bench KIND``: one module per kind, discovered by name.

A module exposes ``KIND`` (the sub-command name), ``HELP``, ``add_arguments(parser)`` and
``run(args) -> Mapping[str, float | int | str]`` returning the measured figures. Add
``pytest_spine/benchmarks/<kind>.py`` to add ``spine bench <kind>``; nothing else needs to change.
Benchmarks print figures; they never assert on time (performance is measured, not tested).
"""
