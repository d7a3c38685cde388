"""The plugin meets unic-bench's method contract (shapes, tasks, seeds, bad params)."""

from unic_bench_agglo import Agglomerative

from unic_bench.testing import check_method


def test_agglo_meets_the_method_contract() -> None:
    report = check_method(Agglomerative)
    assert "clustering: same seed, same labels" in report.passed
