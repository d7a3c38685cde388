"""``unic-bench demo``: the embedded default end to end (3 seeds, both tasks, both leaderboards)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from unic_bench.plugins import host as plugins

pytestmark = pytest.mark.slow  # every method, both tasks, 3 seeds


def test_demo_prints_both_leaderboards(cli: Any, tmp_path: Path) -> None:
    start = time.perf_counter()
    result = cli("demo", "--results", str(tmp_path))
    elapsed = time.perf_counter() - start
    assert result.code == 0, result.err
    clustering, gcd = result.out.split("## GCD")
    assert "| kMeans" in clustering and "Digits ACC" in clustering
    assert "| kMeans" in gcd and "| SS-kMeans" in gcd and "Digits All" in gcd
    assert "| UNIC" in clustering and "| UNIC" in gcd
    cell = clustering.split("| kMeans")[1].split("|")[2]
    acc = float(re.sub(r"</?u>|\*", "", cell).split()[0])  # best is bold, second underlined
    assert 75 < acc < 85  # k-means on raw digits pixels: ~79 (a classic baseline)
    runs = list((tmp_path / "runs").rglob("*.json"))
    host = plugins.get_host()
    digits_tasks = host.datasets.get("digits").tasks
    assert len(runs) == 3 * sum(len(m.tasks & digits_tasks) for m in host.methods)  # every method, task, seed
    rerun = cli("demo", "--results", str(tmp_path), "--overwrite", "only-missing")
    assert rerun.code == 0 and rerun.out.count("±") == result.out.count("±")
    print(f"demo took {elapsed:.1f}s")
