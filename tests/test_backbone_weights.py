"""Every official checkpoint format, written from a random timm model of the right shape, loads
strictly through its backbone plugin with the file's tensors; wrong layouts and code-running
pickles are refused with one line.

ViT-S stands in for ViT-B and ResNet-18 for ResNet-50 where the format (key layout) does not
depend on the size, to keep the suite fast; DINO ResNet-50 and DINOv2 ViT-S/14 are real shapes.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import timm
import torch

from unic_bench.backbones import resnet, vit
from unic_bench.backbones.common.timm_base import TimmBackbone
from unic_bench.errors import BenchError

torch.manual_seed(0)


def small(cls: type[TimmBackbone], timm_name: str) -> type[TimmBackbone]:
    """The same plugin (same remap and load path) on a smaller architecture of the same family."""
    return type(cls.__name__, (cls,), {"timm_name": timm_name})  # type: ignore[return-value]


def random_state(timm_name: str, num_classes: int = 0, **kwargs: Any) -> dict[str, torch.Tensor]:
    """Random tensors with the exact keys and shapes of the timm model (built on meta: no slow init)."""
    with torch.device("meta"):
        model = timm.create_model(timm_name, pretrained=False, num_classes=num_classes, **kwargs)
    return {
        k: torch.randn(v.shape) if v.is_floating_point() else torch.randint(0, 100, v.shape, dtype=v.dtype)
        for k, v in model.state_dict().items()
    }


def save(obj: Any, path: Path) -> Path:
    torch.save(obj, path)
    return path


def load(cls: type[TimmBackbone], path: Path) -> dict[str, torch.Tensor]:
    return cls(weights=path).build().state_dict()


def assert_same(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_dino_vit_bare_dict(tmp_path: Path) -> None:
    sd = random_state("vit_small_patch16_224")
    assert_same(load(vit.DinoViTS16, save(sd, tmp_path / "dino_deitsmall16_pretrain.pth")), sd)


def test_dino_full_checkpoint_takes_the_teacher(tmp_path: Path) -> None:
    teacher, student = random_state("vit_small_patch16_224"), random_state("vit_small_patch16_224")
    ckpt = {
        "student": {f"module.backbone.{k}": v for k, v in student.items()} | {"module.head.last_layer.weight": torch.randn(8, 4)},
        "teacher": {f"backbone.{k}": v for k, v in teacher.items()} | {"head.mlp.0.weight": torch.randn(4, 384)},
        "optimizer": {"state": {}},
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_small", patch_size=16),
        "dino_loss": {"center": torch.zeros(1, 8)},
    }
    assert_same(load(vit.DinoViTS16, save(ckpt, tmp_path / "checkpoint.pth")), teacher)


def test_dino_resnet50_bare_torchvision_dict(tmp_path: Path) -> None:
    sd = random_state("resnet50")
    assert not any(k.startswith("fc.") for k in sd)
    assert_same(load(resnet.DinoResNet50, save(sd, tmp_path / "dino_resnet50_pretrain.pth")), sd)


def test_dinov2_mask_token_and_518px_pos_embed(tmp_path: Path) -> None:
    from timm.layers import resample_abs_pos_embed

    sd = random_state("vit_small_patch14_dinov2", img_size=224)
    released = dict(sd, pos_embed=torch.randn(1, 37 * 37 + 1, 384), mask_token=torch.randn(1, 384))
    loaded = load(vit.DinoV2ViTS14, save(released, tmp_path / "dinov2_vits14_pretrain.pth"))
    expected_pos = resample_abs_pos_embed(released["pos_embed"], new_size=(16, 16), num_prefix_tokens=1)
    assert_same(loaded, dict(sd, pos_embed=expected_pos))
    assert "mask_token" not in loaded and torch.equal(loaded["blocks.11.ls2.gamma"], released["blocks.11.ls2.gamma"])


@pytest.mark.parametrize("wrapped", [True, False])
def test_ibot_state_dict_key(tmp_path: Path, wrapped: bool) -> None:
    sd = random_state("vit_small_patch16_224")
    body = dict(sd, **{"head.mlp.0.weight": torch.randn(4, 384), "head.last_layer2.weight": torch.randn(4, 4)})
    ckpt = {"state_dict": body} if wrapped else body
    assert_same(load(small(vit.IbotViTB16, "vit_small_patch16_224"), save(ckpt, tmp_path / "checkpoint_teacher.pth")), sd)


def test_supervised_timm_safetensors_without_head(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    full = random_state("vit_small_patch16_224", num_classes=1000)
    save_file(full, str(tmp_path / "model.safetensors"))
    loaded = load(small(vit.SupervisedViTB16, "vit_small_patch16_224"), tmp_path / "model.safetensors")
    assert_same(loaded, {k: v for k, v in full.items() if not k.startswith("head.")})


@pytest.mark.parametrize("cls", [resnet.MocoV2ResNet50, resnet.MochiResNet50])
def test_moco_encoder_q_without_mlp(tmp_path: Path, cls: type[TimmBackbone]) -> None:
    sd = random_state("resnet18")
    q = {f"module.encoder_q.{k}": v for k, v in sd.items()}
    mlp = {"module.encoder_q.fc.0.weight": torch.randn(512, 512), "module.encoder_q.fc.2.weight": torch.randn(128, 512)}
    ckpt = {"epoch": 800, "arch": "resnet50", "state_dict": q | mlp, "optimizer": {"state": {}}}
    assert_same(load(small(cls, "resnet18"), save(ckpt, tmp_path / "moco.pth.tar")), sd)


def test_swav_drops_projection_head_and_prototypes(tmp_path: Path) -> None:
    sd = random_state("resnet18")
    extra = {
        "projection_head.0.weight": torch.randn(16, 512),
        "projection_head.1.running_mean": torch.zeros(16),
        "prototypes.weight": torch.randn(30, 16),
    }
    ckpt = {f"module.{k}": v for k, v in (sd | extra).items()}
    assert_same(load(small(resnet.SwavResNet50, "resnet18"), save(ckpt, tmp_path / "swav_800ep_pretrain.pth.tar")), sd)


def test_wrong_key_layout_fails_loudly(tmp_path: Path) -> None:
    sd = random_state("resnet18")
    dino_rn = small(resnet.DinoResNet50, "resnet18")
    moco_file = save({"state_dict": {f"module.encoder_q.{k}": v for k, v in sd.items()}}, tmp_path / "moco.pth.tar")
    with pytest.raises(BenchError, match="do not fit the model.*'state_dict' is a dict, not a tensor"):
        dino_rn(weights=moco_file).build()  # a MoCo file given to the DINO loader
    bare_q = save({f"module.encoder_q.{k}": v for k, v in sd.items()}, tmp_path / "bare_q.pth")
    with pytest.raises(BenchError, match=r"do not fit the model.*missing keys \(conv1.weight.*unexpected keys \(encoder_q.conv1"):
        dino_rn(weights=bare_q).build()
    vit_t = save(random_state("vit_tiny_patch16_224"), tmp_path / "vit_tiny.pth")  # ViT-Ti file for the ViT-S model
    with pytest.raises(BenchError, match="size mismatch"):
        vit.DinoViTS16(weights=vit_t).build()


class RunsCode:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/unic-bench-test-pickle-ran")


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": RunsCode()}, fh, protocol=2)
    with pytest.raises(BenchError, match="refusing to load"):
        vit.DinoViTS16(weights=path).build()
    assert not MARKER.exists()


def test_missing_official_file_names_url_and_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(BenchError) as err:
        resnet.MocoV2ResNet50().build()
    message = str(err.value)
    assert "moco_v2_800ep_pretrain.pth.tar" in message and "https://dl.fbaipublicfiles.com/moco/" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message and "--weights" in message


def test_torch_hub_cache_is_used_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    sd = random_state("resnet18")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "dino_resnet50_pretrain.pth"
    cached.parent.mkdir(parents=True)
    save(sd, cached)
    backbone = small(resnet.DinoResNet50, "resnet18")()
    assert backbone.weights_file() == cached
    assert_same(backbone.build().state_dict(), sd)


def test_hf_cache_is_used_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A populated HF cache (timm's mirror of the DINO file) is found with HF_HUB_OFFLINE=1."""
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    snapshot = tmp_path / "hf" / "models--timm--vit_small_patch16_224.dino" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (tmp_path / "hf" / "models--timm--vit_small_patch16_224.dino" / "refs").mkdir()
    (tmp_path / "hf" / "models--timm--vit_small_patch16_224.dino" / "refs" / "main").write_text("0" * 40)
    sd = random_state("vit_small_patch16_224")
    save_file(sd, str(snapshot / "model.safetensors"))
    backbone = vit.DinoViTS16()
    assert backbone.weights_file() == snapshot / "model.safetensors"
    assert_same(backbone.build().state_dict(), sd)


def test_damaged_files_are_one_line(tmp_path: Path) -> None:
    sd = random_state("vit_small_patch16_224")
    good = save(sd, tmp_path / "good.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    for path in (truncated, garbage):
        with pytest.raises(BenchError, match=f"'{path}'"):
            vit.DinoViTS16(weights=path).build()
