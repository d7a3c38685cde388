"""Conformance checks for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

Call one from your plugin's tests; each runs the plugin on small embedded data and raises an
``AssertionError`` naming the broken part of the contract::

    from unic_bench.testing import check_method

    def test_my_method_meets_the_contract() -> None:
        check_method(MyMethod, params={"epochs": 2})  # small params keep it fast

``check_backbone`` and ``check_dataset`` do the same for the other two plugin kinds. Each returns
a :class:`CheckReport` listing the checks that ran and those skipped, with the reason. Importing
this module imports torch (it is never imported at start-up).
"""

from unic_bench.testing.backbones import check_backbone
from unic_bench.testing.datasets import check_dataset
from unic_bench.testing.methods import check_method
from unic_bench.testing.report import CheckReport
from unic_bench.testing.taskdata import tiny_task_data

__all__ = ["CheckReport", "check_backbone", "check_dataset", "check_method", "tiny_task_data"]
