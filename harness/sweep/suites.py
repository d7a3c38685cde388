"""The UNIC paper's tables as data: which (task, dataset, backbone, method, params) each one runs.

A suite is a list of entries; an entry is one dataset of one task with the backbones and the
method variants (a method plus the parameters of an ablation row) the paper's table has there.
``table1``, ``table2`` and ``table7`` are the paper's result tables; ``table3``, ``table4`` and
``table6`` its ablations, with the rows the harness has switches for (``not_expressible`` lists
the others, with why). Methods the plugin host does not have (SimGCD until it is registered)
are left out with a note rather than failing the whole suite.

Backbone names are the registry's (``unic-bench list backbones``); the paper's DINOv1* (a ViT-B
further pretrained as in SimGCD) ships no official file, so ``table2`` runs plain DINOv1 and a
user reproducing the starred rows passes their file with ``--weights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unic_bench.api.component import Task
from unic_bench.errors import unknown_choice
from unic_bench.plugins.host import PluginHost


@dataclass(frozen=True)
class Variant:
    """One row of a table: a method, the parameters that differ from its defaults, and the row's name."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class SuiteEntry:
    task: Task
    dataset: str
    backbones: tuple[str, ...]
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    entries: tuple[SuiteEntry, ...]
    paper_table: str  # the file under shared/paper-numbers / the paper records' ``paper_table``
    not_expressible: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(dict.fromkeys(e.task for e in self.entries))

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.dataset for e in self.entries))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.method for e in self.entries for v in e.variants))

    @property
    def backbones(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b for e in self.entries for b in e.backbones))

    def available(self, host: PluginHost) -> tuple[Suite, list[str]]:
        """This suite without the variants whose method is not registered, and a note for each one left out."""
        missing = [m for m in self.methods if m not in host.methods]
        entries = tuple(
            SuiteEntry(e.task, e.dataset, e.backbones, tuple(v for v in e.variants if v.method not in missing))
            for e in self.entries
        )
        notes = [
            f"suite '{self.name}': method '{m}' is not registered (no plugin provides it); its rows are skipped" for m in missing
        ]
        return Suite(
            self.name, self.description, tuple(e for e in entries if e.variants), self.paper_table, self.not_expressible
        ), notes


def _plain(*methods: str) -> tuple[Variant, ...]:
    return tuple(Variant(m) for m in methods)


DINO_B16 = "dinov1-vit-b-16"
DINOV2_B14 = "dinov2-vit-b-14"
TABLE7_BACKBONES = (
    "mochi-resnet-50",
    "mocov2-resnet-50",
    "swav-resnet-50",
    "dinov1-resnet-50",
    DINO_B16,
    "ibot-vit-b-16",
    DINOV2_B14,
    "supervised-vit-b-16",
)
ABLATION_EPOCHS = 50  # Tables 3 and 4: "50 epochs" (their captions)

TABLE1 = Suite(
    "table1",
    "Table 1, image clustering: kMeans, SCAN, TEMI, UNIC on DINO ViT-B/16; STL-10, ImageNet-50/100/200 (test split)",
    tuple(
        SuiteEntry("clustering", d, (DINO_B16,), _plain("kmeans", "scan", "temi", "unic"))
        for d in ("stl10", "imagenet50", "imagenet100", "imagenet200")
    ),
    "1",
    ("ResNet rows and methods without a plugin (MoCoV2, ProPos, DPM, DAC, HCL, MoChi, TSP): numbers quoted from other papers",),
)

_GCD_METHODS = _plain("kmeans", "ss-kmeans", "simgcd", "unic")
TABLE2 = Suite(
    "table2",
    "Table 2, GCD (v2, unlabelled train images): kMeans, SS-kMeans, SimGCD, UNIC; DINOv1 everywhere, DINOv2 on ImageNet-100 and CUB",
    tuple(
        SuiteEntry("gcd", d, (DINO_B16, DINOV2_B14) if d in ("imagenet100-gcd", "cub") else (DINO_B16,), _GCD_METHODS)
        for d in ("imagenet100-gcd", "cub", "cifar10", "aircraft", "scars")
    ),
    "2",
    (
        "DINOv1* rows (SimGCD/SPTNet/UNIC on a ViT-B further pretrained as in SimGCD): no official file; pass yours with --weights",
        "UNO+, ORCA, GCD, DCCL, PromptCAL, SPTNet: no plugin in this harness",
    ),
)

TABLE7 = Suite(
    "table7",
    "Table 7, kMeans vs UNIC per backbone, ImageNet-50 clustering",
    (SuiteEntry("clustering", "imagenet50", TABLE7_BACKBONES, _plain("kmeans", "unic")),),
    "7",
)

TABLE3 = Suite(
    "table3",
    "Table 3, UNIC loss-term ablation on ImageNet-50 (50 epochs): positives / + negatives / + entropy",
    (
        SuiteEntry(
            "clustering",
            "imagenet50",
            (DINO_B16,),
            (
                Variant("unic", {"epochs": ABLATION_EPOCHS, "lambda_neg": 0.0, "lambda_ent": 0.0}, "positives"),
                Variant("unic", {"epochs": ABLATION_EPOCHS, "lambda_ent": 0.0}, "positives + negatives"),
                Variant("unic", {"epochs": ABLATION_EPOCHS, "lambda_neg": 0.0}, "positives + entropy"),
                Variant("unic", {"epochs": ABLATION_EPOCHS}, "positives + negatives + entropy"),
            ),
        ),
    ),
    "3",
    ("the two rows with a contrastive term: UNIC has no contrastive loss switch",),
)

TABLE4 = Suite(
    "table4",
    "Table 4, GCD neighbour sources on ImageNet-100 (50 epochs): uncleaned mined positives with random negatives vs UNIC",
    (
        SuiteEntry(
            "gcd",
            "imagenet100-gcd",
            (DINO_B16,),
            (
                # eta = tau1^2 (10 x 10) bounds every second-order union, so no anchor is cleaned; tau2 = 1
                # makes the eq.-3 negatives uniform over every other image ("random").
                Variant("unic", {"epochs": ABLATION_EPOCHS, "eta": 100, "tau2": 1}, "mined positives, random negatives"),
                Variant("unic", {"epochs": ABLATION_EPOCHS}, "cleaned positives, mined negatives (UNIC)"),
            ),
        ),
    ),
    "4",
    ("row 3 (labelled anchors take labelled negatives): UNIC has no switch for the negatives of labelled anchors",),
)

TABLE6 = Suite(
    "table6",
    "Table 6, SCAN -> UNIC ablation on ImageNet-50: backbone, heads, last-block tuning, negatives, cleaning",
    (
        SuiteEntry(
            "clustering",
            "imagenet50",
            ("mocov2-resnet-50",),
            (Variant("scan", {}, "LSCAN + ResNet + heads (= SCAN)"),),
        ),
        SuiteEntry(
            "clustering",
            "imagenet50",
            (DINO_B16,),
            (
                Variant("scan", {}, "LSCAN + ViT-B/16 + heads"),
                Variant("scan", {"num_heads": 1}, "LSCAN + ViT-B/16"),
                Variant("scan", {"finetune": "last-block", "num_heads": 10}, "LSCAN + ViT-B/16 + heads + Tune"),
                Variant("scan", {"finetune": "last-block"}, "LSCAN + ViT-B/16 + Tune"),
                # eta = tau1^2 (50 x 50 on ImageNet clustering): cleaning never rejects an anchor.
                Variant("unic", {"eta": 2500}, "LSCAN + ViT-B/16 + Tune + Lneg"),
                Variant("unic", {}, "LSCAN + ViT-B/16 + Tune + cleaning (= UNIC)"),
            ),
        ),
    ),
    "6",
    (
        "the ResNet row uses MoCo v2 ResNet-50 weights (SCAN's ImageNet pretext), not SCAN's own pretext-trained ResNet",
        "'+ Lneg' is UNIC's loss without cleaning: UNIC's positive term is BCE, not SCAN's dot-product log",
    ),
)

SUITES: dict[str, Suite] = {s.name: s for s in (TABLE1, TABLE2, TABLE7, TABLE3, TABLE4, TABLE6)}
TASK_SUITES: dict[Task, str] = {"clustering": "table1", "gcd": "table2"}  # what `run` without --dataset runs


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise unknown_choice("suite", name, SUITES)
    return SUITES[name]
