"""The example third-party package installs, is discovered by entry point and runs via the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # pip-installs the example package

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unic-bench-agglo"
CLI = [sys.executable, "-m", "unic_bench"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip-install the example into a private folder, exposed to subprocesses via PYTHONPATH only."""
    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / EXAMPLE.name)  # builds leave the repo clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    env["UNIC_BENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return env


def test_plugins_lists_the_example(plugin_env: dict[str, str]) -> None:
    out = subprocess.run([*CLI, "plugins"], env=plugin_env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "agglo" in line)
    assert "unic-bench-agglo" in line and "0.1.0" in line and "methods: agglo" in line


def test_example_method_runs_through_cli(plugin_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "run", "--method", "agglo", "--backbone", "pixels", "--dataset", "digits", "--results", str(tmp_path)],
        env=plugin_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    acc = float(result.stdout.split("acc ")[1].split()[0])
    assert acc > 0.75  # Ward linkage on digits pixels clusters well above chance (0.1)
    assert list((tmp_path / "runs" / "clustering" / "digits" / "pixels" / "agglo").glob("*.json"))


def test_disabling_the_example(plugin_env: dict[str, str]) -> None:
    env = {**plugin_env, "UNIC_BENCH_DISABLE_PLUGINS": "agglo"}
    out = subprocess.run([*CLI, "list", "methods"], env=env, capture_output=True, text=True, check=True).stdout
    assert "agglo" not in out and "kmeans" in out
