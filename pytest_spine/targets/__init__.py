"""Targets by name. Each module is imported only when its target is chosen."""

from __future__ import annotations

import importlib

from pytest_spine.errors import TargetUnavailable
from pytest_spine.targets.base import Target

_MODULES = {
    "reference": "pytest_spine.targets.reference",
    "local_parity": "pytest_spine.targets.local_parity",
    "dev_min": "pytest_spine.targets.dev_min",
}


def target_names() -> tuple[str, ...]:
    return tuple(_MODULES)


def ensure_available(name: str) -> None:
    """Refuse, before any test runs, a target this build does not have."""
    import importlib.util

    if name not in _MODULES:
        raise TargetUnavailable(f"unknown target {name!r}; choose one of {', '.join(_MODULES)}")
    if importlib.util.find_spec(_MODULES[name]) is None:
        raise TargetUnavailable(
            f"target {name!r} is not available yet in this build of pytest-spine; use --spine-env=reference"
        )


def create_target(name: str, **options: object) -> Target:
    if name not in _MODULES:
        raise TargetUnavailable(f"unknown target {name!r}; choose one of {', '.join(_MODULES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as missing:
        if missing.name == _MODULES[name]:
            raise TargetUnavailable(
                f"target {name!r} is not available yet in this build of pytest-spine; "
                "use --spine-env=reference"
            ) from None
        raise
    if name == "local_parity" and names_a_platform(options.get("handles")):
        from pytest_spine.targets import external

        black_box: Target = external.create_target(**{**options, "env_name": "local_parity"})
        return black_box
    factory = module.create_target
    target: Target = factory(**options)
    return target


def names_a_platform(handles: object) -> bool:
    """A registry with a ``platform`` section describes a platform under test (verified as a black box)."""
    if not handles:
        return False
    from pytest_spine.handles import load_registry

    return isinstance(load_registry(str(handles)).document.get("platform"), dict)
