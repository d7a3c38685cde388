"""Plugin hooks (pluggy). Built-in and third-party plugins implement the same hooks.

A plugin module (or object) implements any of these with ``@hookimpl``; third-party packages
declare it under the ``unic_bench`` entry-point group::

    [project.entry-points.unic_bench]
    agglo = "unic_bench_agglo"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("unic_bench")
hookimpl = pluggy.HookimplMarker("unic_bench")


@hookspec
def register_methods(register: Callable[[type], None]) -> None:
    """Register clustering/GCD methods: call ``register(MethodSubclass)`` once per method."""


@hookspec
def register_backbones(register: Callable[[type], None]) -> None:
    """Register feature extractors: call ``register(BackboneSubclass)`` once per backbone."""


@hookspec
def register_datasets(register: Callable[[type], None]) -> None:
    """Register datasets: call ``register(DatasetSubclass)`` once per dataset."""


@hookspec
def register_commands(app: Any) -> None:
    """Add sub-commands to the ``unic-bench`` typer app (``@app.command()``)."""
