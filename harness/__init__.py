"""unic-bench: a benchmark harness for image clustering and Generalized Category Discovery.

The plugin API is one import: ``from unic_bench import Method, ParamsModel, TaskData, hookimpl``.
The names load lazily (PEP 562), so ``import unic_bench`` and ``unic-bench --help`` import neither
torch nor any plugin. The package reads as the data path of one run:

- ``api/``      the contract a plugin author needs (base classes, what a method sees, hooks)
- ``plugins/``  discovery of built-in and entry-point plugins
- ``run/``      spec -> dataset -> features -> method -> metrics -> record
- ``report/``   records -> leaderboards
- ``cli/``      the ``unic-bench`` command
- ``testing/``  conformance checks for plugins (``check_method`` and siblings)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BenchError": "unic_bench.errors",
    "ParamsModel": "unic_bench.api.component",
    "Task": "unic_bench.api.component",
    "Method": "unic_bench.api.method",
    "Backbone": "unic_bench.api.backbone",
    "InputConfig": "unic_bench.api.backbone",
    "Dataset": "unic_bench.api.dataset",
    "Split": "unic_bench.api.dataset",
    "TaskData": "unic_bench.api.taskdata",
    "FeatureSet": "unic_bench.api.taskdata",
    "ImageAccess": "unic_bench.api.taskdata",
    "Prediction": "unic_bench.api.taskdata",
    "RunContext": "unic_bench.api.taskdata",
    "hookimpl": "unic_bench.api.hookspecs",
}

__all__ = [
    "__version__",
    "BenchError",
    "ParamsModel",
    "Task",
    "Method",
    "Backbone",
    "InputConfig",
    "Dataset",
    "Split",
    "TaskData",
    "FeatureSet",
    "ImageAccess",
    "Prediction",
    "RunContext",
    "hookimpl",
]  # equal to _EXPORTS' keys (tests/test_public_api.py)

if TYPE_CHECKING:
    from unic_bench.api.backbone import Backbone, InputConfig
    from unic_bench.api.component import ParamsModel, Task
    from unic_bench.api.dataset import Dataset, Split
    from unic_bench.api.hookspecs import hookimpl
    from unic_bench.api.method import Method
    from unic_bench.api.taskdata import FeatureSet, ImageAccess, Prediction, RunContext, TaskData
    from unic_bench.errors import BenchError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unic_bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
