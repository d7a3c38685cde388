"""The GCD test transform, the ImageNet subsets' pre-resize and the train transform, against PIL by hand."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from unic_bench.api.backbone import InputConfig
from unic_bench.datasets.common.transforms import IMAGENET_MEAN, IMAGENET_STD, image_transform

CFG = InputConfig(224, IMAGENET_MEAN, IMAGENET_STD, interpolation="bicubic", crop_pct=0.875)


def photo(width: int = 300, height: int = 400) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def normalised(image: Image.Image) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    return (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def centre_crop(image: Image.Image, size: int) -> Image.Image:
    left, top = round((image.width - size) / 2), round((image.height - size) / 2)
    return image.crop((left, top, left + size, top + size))


def test_gcd_test_transform_is_shorter_side_256_bicubic_then_centre_224() -> None:
    transform, description = image_transform(CFG)
    image = photo()  # 300 x 400: shorter side 300 -> 256, longer 400 -> int(256 * 400 / 300) = 341
    expected = normalised(centre_crop(image.resize((256, 341), Image.BICUBIC), 224))
    assert (
        description
        == "resize(256,bicubic)|center-crop(224)|to-tensor|normalize(mean=[0.485, 0.456, 0.406],std=[0.229, 0.224, 0.225])"
    )
    assert torch.allclose(transform(image), expected, atol=1e-5)


def test_imagenet_subset_pre_resize_squashes_to_256_square_first() -> None:
    transform, description = image_transform(CFG, pre_resize=(256, 256))
    image = photo()
    expected = normalised(centre_crop(image.resize((256, 256), Image.BILINEAR), 224))
    assert description.startswith("resize(256x256,bilinear)|resize(256,bicubic)|center-crop(224)")
    assert torch.allclose(transform(image), expected, atol=1e-5)


def test_train_transform_crops_a_window_of_the_resized_image_and_may_flip() -> None:
    assert image_transform(CFG, train=True)[1].startswith("resize(256,bicubic)|random-crop(224)|hflip(0.5)|to-tensor")
    small = InputConfig(16, IMAGENET_MEAN, IMAGENET_STD, crop_pct=0.5)  # resize 32, crop 16: every window checkable
    transform, _ = image_transform(small, train=True)
    image = photo(30, 40)
    windows = normalised(image.resize((32, 42), Image.BICUBIC)).unfold(1, 16, 1).unfold(2, 16, 1)  # (3, 27, 17, 16, 16)
    torch.manual_seed(0)
    flips = set()
    for _ in range(8):
        x = transform(image)
        matches = [((windows - view[:, None, None]).abs().amax(dim=(0, 3, 4)) < 1e-5).any().item() for view in (x, x.flip(-1))]
        assert any(matches)
        flips.add(matches[1] and not matches[0])
    assert flips == {True, False}  # both flipped and unflipped crops occur


def test_native_images_without_a_backbone_config() -> None:
    transform, description = image_transform(None, native_ok=True)
    image = photo(32, 32)
    assert description == "to-tensor"
    assert torch.equal(transform(image), torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1))
    _, fallback = image_transform(None)  # files of varying size: the 224-pixel ImageNet transform
    assert fallback.startswith("resize(256,bicubic)|center-crop(224)")
