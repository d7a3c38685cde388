"""End-to-end runs: records round-trip, resume/overwrite policies, determinism, GCD details."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from unic_bench.run.records import RunRecord, read_record
from unic_bench.run.spec import RunSpec

DIGITS = ["--backbone", "pixels", "--dataset", "digits"]


def records_under(results: Path) -> list[Path]:
    return sorted((results / "runs").rglob("*.json"))


def test_clustering_record_round_trip(cli: Any, tmp_path: Path) -> None:
    results = tmp_path / "r"
    out = cli("run", "--method", "kmeans", *DIGITS, "--seeds", "0,1", "--results", str(results), "--set", "n_init=3")
    assert out.code == 0, out.err
    paths = records_under(results)
    assert len(paths) == 2
    record = read_record(paths[0])
    assert isinstance(record, RunRecord) and record.source == "measured"
    assert record.spec is not None and record.run_id == record.spec.run_id == paths[0].stem
    assert record.params_changed == {"n_init": 3}
    assert record.spec.method_params["max_iter"] == 300  # defaults are part of the canonical spec
    assert set(record.metrics) == {"acc", "nmi", "ari"} and 0.7 < record.metrics["acc"] < 0.9
    assert record.metric_variant == "hungarian" and record.n_eval == 1797
    assert {"versions", "python", "device"} <= set(record.environment)
    assert record.environment["versions"]["torch"]
    assert record.feature_cache_keys["train"]
    again = RunRecord.model_validate_json(json.dumps(record.model_dump(mode="json")))
    assert again == record
    saved = np.load(paths[0].with_suffix(".npz"))
    assert saved["assignments"].shape == (1797,) and np.array_equal(saved["eval_indices"], np.arange(1797))


def test_same_spec_same_result_on_cpu(cli: Any, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert (
            cli(
                "run", "--method", "ss-kmeans", *DIGITS, "--task", "gcd", "--set", "n_init=3", "--results", str(tmp_path / name)
            ).code
            == 0
        )
    a, b = records_under(tmp_path / "a"), records_under(tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    assert np.array_equal(np.load(a[0].with_suffix(".npz"))["assignments"], np.load(b[0].with_suffix(".npz"))["assignments"])
    assert read_record(a[0]).metrics == read_record(b[0]).metrics  # type: ignore[union-attr]


def test_gcd_record_holds_labelled_indices(cli: Any, tmp_path: Path) -> None:
    out = cli("run", "--method", "kmeans", *DIGITS, "--task", "gcd", "--results", str(tmp_path))
    assert out.code == 0, out.err
    record = read_record(records_under(tmp_path)[0])
    assert record is not None and record.metric_variant == "gcd-v2" and set(record.metrics) == {"all", "old", "new"}
    from sklearn.datasets import load_digits

    target = load_digits().target
    labelled = np.array(record.labelled_indices)
    assert len(labelled) == int(0.5 * (target < 5).sum())
    assert (target[labelled] < 5).all()
    assert record.n_eval == len(target) - len(labelled)


def test_overwrite_policies(cli: Any, tmp_path: Path) -> None:
    args = ["run", "--method", "kmeans", *DIGITS, "--set", "n_init=2", "--results", str(tmp_path)]
    assert cli(*args, "--seeds", "0").code == 0
    first = records_under(tmp_path)[0]
    created = read_record(first).created_at  # type: ignore[union-attr]
    first.write_text(first.read_text().replace(created, "2000-01-01T00:00:00+00:00"))
    kept = cli(*args, "--seeds", "0,1")  # only-missing: seed 0 kept, seed 1 run
    assert kept.code == 0 and "existing record kept" in kept.out
    assert read_record(first).created_at == "2000-01-01T00:00:00+00:00"  # type: ignore[union-attr]
    assert len(records_under(tmp_path)) == 2
    refused = cli(*args, "--seeds", "0,2", "--overwrite", "never")
    assert refused.code == 2 and "exists and --overwrite is 'never'" in refused.err
    assert len(records_under(tmp_path)) == 2  # seed 2 not run either: checked before anything runs
    assert cli(*args, "--seeds", "0", "--overwrite", "always").code == 0
    assert read_record(first).created_at != "2000-01-01T00:00:00+00:00"  # type: ignore[union-attr]


def test_corrupt_record_is_rerun(cli: Any, tmp_path: Path) -> None:
    args = ["run", "--method", "kmeans", *DIGITS, "--set", "n_init=2", "--results", str(tmp_path)]
    assert cli(*args).code == 0
    path = records_under(tmp_path)[0]
    path.write_text(path.read_text()[:50])  # an interrupted foreign write
    assert "existing record kept" not in cli(*args).out
    assert read_record(path) is not None


def test_config_file_with_cli_override(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "spec.yaml"
    config.write_text(
        "method: kmeans\nbackbone: pixels\ndataset: synthetic\ntask: clustering\nseeds: [3]\n"
        "set: {n_init: 2, dataset.n_train: 300, dataset.n_test: 100}\n"
    )
    out = cli("run", "--config", str(config), "--backbone", "identity", "--results", str(tmp_path / "r"))
    assert out.code == 0, out.err
    record = read_record(records_under(tmp_path / "r")[0])
    assert record is not None and record.seed == 3 and record.backbone == "identity"
    assert record.spec.dataset_params["n_train"] == 300 and record.n_eval == 100  # type: ignore[union-attr]
    assert record.metrics["acc"] > 0.99  # separable synthetic data (separation 8)
    assert set(record.train_metrics) == {"acc", "nmi", "ari"}  # train split differs from eval split


def test_table_command_from_records(cli: Any, tmp_path: Path) -> None:
    assert cli("run", "--method", "kmeans", *DIGITS, "--seeds", "0,1", "--set", "n_init=2", "--results", str(tmp_path)).code == 0
    md = cli("table", "--results", str(tmp_path))
    assert md.code == 0 and "kMeans (n_init=2)" in md.out and "Digits ACC" in md.out and "±" in md.out
    out = tmp_path / "t.tex"
    assert cli("table", "--results", str(tmp_path), "--format", "latex", "--with-paper", "--output", str(out)).code == 0
    tex = out.read_text()
    assert "\\toprule" in tex and "UNIC [paper]" in tex and "Digits" in tex
    empty = cli("table", "--results", str(tmp_path / "nothing"))
    assert empty.code == 2 and "no records under" in empty.err


def test_config_seed_forms(cli: Any, tmp_path: Path) -> None:
    base = "method: kmeans\nbackbone: identity\ndataset: synthetic\nset: {n_init: 1, dataset.n_train: 200, dataset.n_test: 50}\n"
    for i, (line, expected) in enumerate([("seed: 5\n", {5}), ("seeds: '1,2'\n", {1, 2}), ("seeds: 7\n", {7})]):
        config = tmp_path / f"c{i}.yaml"
        config.write_text(base + line)
        results = tmp_path / f"r{i}"
        assert cli("run", "--config", str(config), "--results", str(results)).code == 0
        assert {read_record(p).seed for p in records_under(results)} == expected  # type: ignore[union-attr]
    overridden = tmp_path / "r-cli"
    assert cli("run", "--config", str(tmp_path / "c0.yaml"), "--seed", "9", "--results", str(overridden)).code == 0
    assert [read_record(p).seed for p in records_under(overridden)] == [9]  # type: ignore[union-attr]


def test_auto_renamed_from_none_keeps_the_run_id() -> None:
    """UNIC's tau1/tau2/eta were spelled None before "auto": the id hashes "auto" as null."""
    spec = {"method": "unic", "backbone": "pixels", "dataset": "digits", "task": "clustering"}
    auto = RunSpec(**spec, method_params={"tau1": "auto", "tau2": 900, "eta": "auto", "finetune": "auto"})
    before = RunSpec(**spec, method_params={"tau1": None, "tau2": 900, "eta": None, "finetune": "auto"})
    assert auto.run_id == before.run_id
    assert auto.method_params["tau1"] == "auto"  # the record keeps the new spelling
    other = RunSpec(**{**spec, "method": "kmeans"}, method_params={"tau1": "auto"})
    assert other.run_id != RunSpec(**{**spec, "method": "kmeans"}, method_params={"tau1": None}).run_id
