"""Bad input: one line on stderr, exit code 2, no traceback, and no record written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BASE = ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digits"]


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["run", "--method", "kmean", "--backbone", "pixels", "--dataset", "digits"],
            "unknown method 'kmean'; did you mean 'kmeans'",
        ),
        (
            ["run", "--method", "kmeans", "--backbone", "pixel", "--dataset", "digits"],
            "unknown backbone 'pixel'; did you mean 'pixels'",
        ),
        (
            ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digit"],
            "unknown dataset 'digit'; did you mean 'digits'",
        ),
        (
            ["run", "--method", "ss-kmeans", "--backbone", "pixels", "--dataset", "digits"],
            "method 'ss-kmeans' does not support task 'clustering' (it supports: gcd)",
        ),
        (
            [*BASE, "--task", "segmentation"],
            "invalid value 'segmentation' for parameter 'task' of the run spec: Input should be 'clustering' or 'gcd'",
        ),
        ([*BASE, "--set", "n_inits=3"], "unknown parameter 'n_inits' for method 'kmeans' (valid: n_init=10"),
        ([*BASE, "--set", "n_init=many"], "invalid value 'many' for parameter 'n_init' of method 'kmeans'"),
        ([*BASE, "--set", "n_init=0"], "invalid value 0 for parameter 'n_init'"),
        ([*BASE, "--set", "normalize=cosine"], "'l2' or 'standardize'"),
        ([*BASE, "--set", "n_init"], "invalid --set 'n_init': expected key=value"),
        ([*BASE, "--set", "dataset.size=3"], "unknown parameter 'size' for dataset 'digits'"),
        ([*BASE, "--seeds", "0,one"], "invalid seeds '0,one'"),
        ([*BASE, "--seed", "1.5"], "invalid seeds '1.5'"),
        ([*BASE, "--seed", "1", "--seeds", "2,3"], "give --seed or --seeds, not both"),
        ([*BASE, "--overwrite", "sometimes"], "unknown --overwrite value 'sometimes'"),
        ([*BASE, "--device", "tpu"], "invalid --device 'tpu' (valid: auto, cpu, cuda, cuda:N)"),
        ([*BASE, "--data-root", "/no/such/folder"], "data root '/no/such/folder' does not exist"),
        ([*BASE, "--gcd-metric", "v3"], "invalid value 'v3' for parameter 'gcd_metric'"),
        (
            ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "synthetic"],
            "backbone 'pixels' takes image inputs but dataset 'synthetic' provides features (valid backbones: identity)",
        ),
        (["run", "--backbone", "pixels", "--dataset", "digits"], "missing --method"),
        ([*BASE, "--config", "/no/such.yaml"], "config file '/no/such.yaml' does not exist"),
        (["list", "models"], "unknown list kind 'models'"),
        (["table", "--layout", "table9"], "unknown layout 'table9'"),
        (["table", "--format", "html"], "unknown format 'html'"),
        (["run", "--method", "kmeans", "--bogus-flag"], "No such option: --bogus-flag"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], expected: str, cli: Any, tmp_path: Path) -> None:
    results = tmp_path / "results"
    result = cli(*args, "--results", str(results)) if args[0] == "run" else cli(*args)
    assert result.code == 2, (result.out, result.err)
    assert expected in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("unic-bench: error: ")
    assert "Traceback" not in result.err
    assert not list(results.rglob("*.json")) if results.exists() else True


def test_bad_config_values(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "spec.yaml"
    config.write_text("method: kmeans\nbackbone: pixels\ndataset: digits\nlearning_rate: 3\n")
    result = cli("run", "--config", str(config), "--results", str(tmp_path / "r"))
    assert (
        result.code == 2
        and "unknown key 'learning_rate' in config" in result.err
        and "valid: backbone, batch_size, cache_dir" in result.err
    )
    config.write_text("- not a mapping\n")
    assert "must hold a mapping" in cli("run", "--config", str(config)).err


def test_dataset_needing_a_root_says_so(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    from unic_bench.api.hookspecs import hookimpl
    from unic_bench.datasets.digits import Digits

    class OnDisk(Digits):
        name = "on-disk"
        needs_root = True

    class Plugin:
        @hookimpl
        def register_datasets(self, register: Any) -> None:
            register(OnDisk)

    use_plugins(("ondisk", Plugin()))
    result = cli("run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "on-disk", "--results", str(tmp_path))
    assert result.code == 2
    assert "dataset 'on-disk' reads files: pass --data-root DIR or set UNIC_BENCH_DATA" in result.err


def test_every_run_flag_is_a_config_key_and_reaches_the_request_or_the_options(tmp_path: Path) -> None:
    """One declaration: run()'s parameters. Each lands in RunRequest or RunOptions by name."""
    from dataclasses import fields

    from unic_bench.cli.app import config_keys
    from unic_bench.run.protocol import RunOptions
    from unic_bench.run.spec import RunRequest

    option_keys = {f.metadata.get("flag", f.name) for f in fields(RunOptions)}
    # seed folds into seeds; suite/skip_missing pick the datasets (cli/sweep.run_suite) before a request exists
    assert config_keys() - set(RunRequest.model_fields) - option_keys <= {"seed", "suite", "skip_missing"}
    options = RunOptions.from_values({"results": str(tmp_path), "workers": 3, "device": "cpu", "data_root": None})
    assert (options.results_dir, options.num_workers, options.device, options.data_root) == (tmp_path, 3, "cpu", None)
    assert RunOptions.from_values({}) == RunOptions()
