"""Run specifications: what the user asks for (RunRequest) and the canonical runs (RunSpec).

A RunSpec holds canonical names and the *complete* validated parameters (defaults filled in),
so two requests that mean the same run hash to the same record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unic_bench.api.backbone import Backbone, file_sha256
from unic_bench.api.component import Task, describe_validation_error
from unic_bench.errors import BenchError
from unic_bench.plugins.host import PluginHost

GcdMetric = Literal["v2", "v1"]
PARAM_PREFIXES = ("method", "backbone", "dataset")
SEED_LIMIT = 2**32  # numpy's legacy seed range, [0, 2**32)
AUTO: Literal["auto"] = "auto"

# Spellings that changed after run ids were first issued; the id hashes the first spelling so the
# runs recorded before the change keep their ids (the reason ``weights_sha256`` is left out when
# unset). Only for changes that do not change the run.
# - Derived values once spelled None, now "auto" (issue 10): method -> parameters ("auto" hashes as
#   null). A new parameter is spelled "auto" from the start and needs no entry.
AUTO_WAS_NONE: dict[str, frozenset[str]] = {
    "unic": frozenset({"tau1", "tau2", "eta"}),
    "scan": frozenset({"num_heads", "optimizer", "lr", "weight_decay", "batch_size"}),
}
# - Parameters added later: method -> {parameter: the value that reproduces the earlier runs}; left
#   out of the hash while they hold it.
# TrainParams fields added later, at their defaults: the kMeans probe off (issue 13) and the
# train images as before (paper augmentation; the trunk-output cache only acts without it, issue 14).
TRAINER_ADDED = {
    "probe_every": 0,
    "train_augment": "paper",
    "train_views": None,
    "trunk_cache": "auto",
    "trunk_cache_gpu_fraction": 0.5,
}
ADDED_LATER: dict[str, dict[str, Any]] = {
    "scan": {"self_label_optimizer": "adam", "self_label_weight_decay": 1e-4, "self_label_ema": 0.0, **TRAINER_ADDED},
    "unic": TRAINER_ADDED,
    "temi": TRAINER_ADDED,
}


class RunSpec(BaseModel):
    """One run: everything that determines its result, and nothing that does not (device, paths)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    backbone: str
    dataset: str
    task: Task
    seed: int = 0
    method_params: dict[str, Any] = Field(default_factory=dict)
    backbone_params: dict[str, Any] = Field(default_factory=dict)
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    gcd_metric: GcdMetric = "v2"
    weights_sha256: Optional[str] = None  # only for a user's --weights file; official weights follow from the name
    data_fingerprint: Optional[str] = None  # only for data from a user's path (folder): Dataset.data_identity

    num_clusters: Union[int, Literal["auto"], None] = None  # None: the dataset's number of classes
    estimate_k: dict[str, Any] = Field(default_factory=dict)  # EstimateKParams, when num_clusters is auto

    def canonical_json(self) -> str:
        """Sorted-key JSON of the spec in its id form: fields added later (``weights_sha256``,
        ``data_fingerprint``, ``num_clusters``, ``estimate_k``) appear only when set, and method
        params take their first spelling (``AUTO_WAS_NONE``, ``ADDED_LATER``), so existing runs keep
        their ids."""
        data = self.model_dump(mode="json")
        for added in ("weights_sha256", "data_fingerprint", "num_clusters", "estimate_k"):
            if data[added] in (None, {}):
                del data[added]
        data["method_params"] = first_spelling(self.method, data["method_params"])
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Hash of the canonical spec: a rerun of the same spec lands on the same record."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


def first_spelling(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as they were spelled when ids were first issued (see ``AUTO_WAS_NONE``)."""
    renamed, added = AUTO_WAS_NONE.get(method, frozenset()), ADDED_LATER.get(method, {})
    return {
        key: None if key in renamed and value == AUTO else value
        for key, value in params.items()
        if not (key in added and value == added[key] and type(value) is type(added[key]))
    }


class RunRequest(BaseModel):
    """The user's request, from CLI flags and/or ``--config spec.yaml`` (same keys)."""

    model_config = ConfigDict(extra="forbid")

    method: str
    backbone: str
    dataset: str
    task: Task = "clustering"
    seeds: list[int] = Field(default_factory=lambda: [0])
    set: dict[str, Any] = Field(default_factory=dict)
    gcd_metric: GcdMetric = "v2"
    weights: Optional[Path] = None  # a weights file replacing the backbone's official one

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> RunRequest:
        try:
            return cls(**values)
        except ValidationError as exc:
            raise BenchError(describe_validation_error(exc, cls, "the run spec")) from None


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; anything else is a one-line error."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise BenchError(f"invalid seeds '{text}': expected integers separated by commas, e.g. 0,1,2") from None
    if not seeds:
        raise BenchError(f"invalid seeds '{text}': expected at least one integer")
    return check_seeds(seeds)


def check_seeds(seeds: list[int]) -> list[int]:
    """Seeds must fit numpy's range and be distinct (a repeated seed is not another sample)."""
    bad = next((s for s in seeds if not 0 <= s < SEED_LIMIT), None)
    if bad is not None:
        raise BenchError(f"invalid seed {bad}: seeds must be integers in [0, 2**32 - 1]")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise BenchError(f"seed {repeated[0]} is given more than once in seeds {','.join(map(str, seeds))}: give distinct seeds")
    return seeds


def parse_set(items: Iterable[str]) -> dict[str, Any]:
    """``["n_init=5", "dataset.n_train=100"]`` -> ``{"n_init": 5, "dataset.n_train": 100}`` (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"invalid --set '{item}': expected key=value (e.g. --set n_init=10)")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def load_config(path: Path) -> dict[str, Any]:
    """Read a YAML run spec; its keys are the long CLI flags (``seeds``, ``set``, ``data_root`` ...)."""
    if path.is_dir():
        raise BenchError(f"config file '{path}' is a folder; give the YAML file")
    if not path.is_file():
        raise BenchError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchError(f"config file '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise BenchError(f"config file '{path}' must hold a mapping of flags (method: kmeans, ...)")
    return data


def split_params(overrides: Mapping[str, Any], dataset_only: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Route ``--set`` keys: ``dataset.x``/``backbone.x`` to those plugins, keys in ``dataset_only``
    (declared by the dataset but not the method, e.g. ``num_clusters``) to the dataset, the rest to the method."""
    routed: dict[str, dict[str, Any]] = {p: {} for p in PARAM_PREFIXES}
    dataset_only = set(dataset_only)
    for key, value in overrides.items():
        prefix, dot, rest = key.partition(".")
        if dot and prefix in PARAM_PREFIXES:
            routed[prefix][rest] = value
        else:
            routed["dataset" if key in dataset_only else "method"][key] = value
    return routed


def cluster_count(overrides: dict[str, Any], dataset_fields: set[str]) -> tuple[int | Literal["auto"] | None, dict[str, Any]]:
    """Take the protocol's ``num_clusters`` (and ``estimate_k.*``) out of the ``--set`` overrides.

    ``num_clusters=N`` asks every method for N clusters, ``auto`` for an estimated K
    (:mod:`unic_bench.run.estimate_k`). A dataset that declares ``num_clusters`` itself (``folder``:
    the K of a flat folder) keeps an integer value.
    """
    from unic_bench.run.estimate_k import EstimateKParams

    estimate = {key.partition(".")[2]: overrides.pop(key) for key in list(overrides) if key.startswith("estimate_k.")}
    value = overrides.get("num_clusters")
    if value is None or ("num_clusters" in dataset_fields and value != AUTO):
        if estimate:
            raise BenchError("estimate_k.* settings need --set num_clusters=auto")
        return None, {}
    del overrides["num_clusters"]
    if value != AUTO and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise BenchError(f"invalid num_clusters {value!r}: expected an integer >= 2 or 'auto'")
    if value != AUTO:
        if estimate:
            raise BenchError("estimate_k.* settings need --set num_clusters=auto")
        return value, {}
    try:
        params = EstimateKParams(**estimate)
    except ValidationError as exc:
        raise BenchError(describe_validation_error(exc, EstimateKParams, "num_clusters=auto (estimate_k)")) from None
    return AUTO, params.model_dump(mode="json")


def weights_checksum(backbone: type[Backbone], path: Path) -> str:
    """sha256 of a ``--weights`` file, after checking the backbone takes weights and the file exists."""
    if not backbone.accepts_weights:
        raise BenchError(f"backbone '{backbone.name}' has no pretrained weights to replace; drop --weights")
    if path.is_dir():
        raise BenchError(f"weights file '{path}' is a folder; give the weights file itself")
    if not path.is_file():
        raise BenchError(f"weights file '{path}' does not exist")
    return file_sha256(path)


def resolve(request: RunRequest, host: PluginHost) -> list[RunSpec]:
    """Validate names, task support and params; one RunSpec per seed. Raises BenchError."""
    method = host.methods.get(request.method)
    backbone = host.backbones.get(request.backbone)
    dataset = host.datasets.get(request.dataset)
    if request.task not in method.tasks:
        raise BenchError(
            f"method '{method.name}' does not support task '{request.task}' (it supports: {', '.join(sorted(method.tasks))})"
        )
    if request.task not in dataset.tasks:
        raise BenchError(
            f"dataset '{dataset.name}' does not support task '{request.task}' (it supports: {', '.join(sorted(dataset.tasks))})"
        )
    if backbone.accepts != dataset.modality:
        fitting = sorted(b.name for b in host.backbones if b.accepts == dataset.modality)
        raise BenchError(
            f"backbone '{backbone.name}' takes {backbone.accepts} inputs but dataset '{dataset.name}' "
            f"provides {dataset.modality} (valid backbones: {', '.join(fitting)})"
        )
    check_seeds(request.seeds)
    weights_sha256 = None if request.weights is None else weights_checksum(backbone, request.weights)
    overrides = dict(request.set)
    num_clusters, estimate = cluster_count(overrides, set(dataset.Params.model_fields))
    routed = split_params(overrides, set(dataset.Params.model_fields) - set(method.Params.model_fields))
    params: dict[str, Any] = {
        "method_params": method.validate_params(
            {**method.defaults_for(dataset.name, request.task), **routed["method"]}
        ).model_dump(mode="json"),
        "backbone_params": backbone.validate_params(routed["backbone"]).model_dump(mode="json"),
        "dataset_params": dataset.validate_params(routed["dataset"]).model_dump(mode="json"),
    }
    return [
        RunSpec(
            method=method.name,
            backbone=backbone.name,
            dataset=dataset.name,
            task=request.task,
            seed=seed,
            gcd_metric=request.gcd_metric if request.task == "gcd" else "v2",  # no bearing on clustering
            weights_sha256=weights_sha256,
            num_clusters=num_clusters,
            estimate_k=estimate,
            **params,
        )
        for seed in request.seeds
    ]
