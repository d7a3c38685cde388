"""Small fake copies of the official on-disk layouts (real file names and formats, tiny images)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

# The workspace's ../shared/splits, from whichever checkout (main or a worktree) runs the tests.
SHARED_SPLITS = next(
    (p / "shared" / "splits" for p in Path(__file__).resolve().parents if (p / "shared" / "splits").is_dir()),
    Path("/nonexistent"),
)
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def shared_splits() -> Path:
    """The class lists copied from the official repositories (../shared/splits), or skip."""
    if not (SHARED_SPLITS / "README.md").is_file():
        pytest.skip(f"the reference class lists are not at {SHARED_SPLITS} (only present in the project workspace)")
    return SHARED_SPLITS


def shared_ints(name: str) -> list[int]:
    return [int(line) for line in (shared_splits() / name).read_text().split()]


def rng_images(n: int, side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> CIFAR's (N, 3072) rows, channel-major."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def make_cifar10(root: Path, per_batch: np.ndarray, test_labels: np.ndarray, images: bool = True) -> dict[str, np.ndarray]:
    """``cifar-10-batches-py`` with 5 train batches of ``per_batch`` labels; returns the images written."""
    base = root / "cifar-10-batches-py"
    written = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        labels = test_labels if name == "test_batch" else per_batch
        data = rng_images(len(labels), 32, seed=i) if images else np.zeros((len(labels), 32, 32, 3), np.uint8)
        dump(
            base / name,
            {
                "batch_label": name,
                "labels": labels.tolist(),
                "data": cifar_rows(data),
                "filenames": [f"{j}.png" for j in range(len(labels))],
            },
        )
        written[name] = data
    dump(base / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": len(per_batch), "num_vis": 3072})
    return written


def make_cifar100(root: Path, fine_train: np.ndarray, fine_test: np.ndarray, fine_to_coarse: list[int]) -> None:
    base = root / "cifar-100-python"
    table = np.asarray(fine_to_coarse)
    for i, (name, fine) in enumerate((("train", fine_train), ("test", fine_test))):
        data = cifar_rows(np.zeros((len(fine), 32, 32, 3), np.uint8)) + i
        dump(base / name, {"filenames": [], "fine_labels": fine.tolist(), "coarse_labels": table[fine].tolist(), "data": data})
    dump(
        base / "meta",
        {"fine_label_names": [f"fine{i:02d}" for i in range(100)], "coarse_label_names": [f"super{i:02d}" for i in range(20)]},
    )


def make_stl10(root: Path, n_train: int, n_test: int, n_unlabeled: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``stl10_binary``: images stored (3, 96, 96) column-major, labels 1..10."""
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    written = {}
    for i, (split, n) in enumerate((("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled))):
        if split == "unlabeled" and not n:
            continue
        images = rng_images(n, 96, seed=10 + i)
        images.transpose(0, 3, 2, 1).tofile(base / f"{split}_X.bin")
        labels = np.arange(n) % 10
        if split != "unlabeled":
            (labels + 1).astype(np.uint8).tofile(base / f"{split}_y.bin")
        written[split] = (images, labels)
    (base / "class_names.txt").write_text(
        "\n".join(["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]) + "\n"
    )
    return written


def write_image(path: Path, size: tuple[int, int] = (12, 10), seed: int = 0) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_imagenet(root: Path, wnids: list[str], train_per_class: int = 2, val_per_class: int = 1, empty: bool = False) -> None:
    """``imagenet/{train,val}/<wnid>/*.JPEG`` (val already sorted into class folders); ``empty``: names only."""
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c, wnid in enumerate(wnids):
            for j in range(n):
                name = f"{wnid}_{j}.JPEG" if split == "train" else f"ILSVRC2012_val_{c * n + j:08d}.JPEG"
                path = root / "imagenet" / split / wnid / name
                if empty:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                else:
                    write_image(path, seed=c)


def make_cub(root: Path, order: list[tuple[int, int]]) -> None:
    """``CUB_200_2011`` with one row per (class id 0..199, is_train) in ``order`` (img_id = position + 1)."""
    base = root / "CUB_200_2011"
    names = [f"{c + 1:03d}.Bird_{c + 1}" for c in range(200)]
    (base / "images").mkdir(parents=True)
    (base / "classes.txt").write_text("".join(f"{c + 1} {n}\n" for c, n in enumerate(names)))
    images, labels, split = [], [], []
    for i, (c, train) in enumerate(order, start=1):
        rel = f"{names[c]}/{names[c].split('.')[1]}_{i:04d}.jpg"
        write_image(base / "images" / rel, seed=i)
        images.append(f"{i} {rel}\n")
        labels.append(f"{i} {c + 1}\n")
        split.append(f"{i} {int(train)}\n")
    (base / "images.txt").write_text("".join(images))
    (base / "image_class_labels.txt").write_text("".join(labels))
    (base / "train_test_split.txt").write_text("".join(split))


AIRCRAFT_VARIANTS = [f"{m}-{v}" for m in ("707", "727", "737", "A300", "ATR") for v in range(100, 120)]  # 100 names, sorted


def make_aircraft(root: Path, trainval: list[tuple[str, int]], test: list[tuple[str, int]]) -> None:
    """``fgvc-aircraft-2013b/data``: ``<image id> <variant>`` lines (variant index into AIRCRAFT_VARIANTS)."""
    data = root / "fgvc-aircraft-2013b" / "data"
    for file, rows in (("trainval", trainval), ("test", test)):
        for image, _ in rows:
            write_image(data / "images" / f"{image}.jpg")
        (data / f"images_variant_{file}.txt").write_text("".join(f"{image} {AIRCRAFT_VARIANTS[v]}\n" for image, v in rows))
    (data / "variants.txt").write_text("".join(f"{v}\n" for v in AIRCRAFT_VARIANTS))


def make_scars(root: Path, train: list[int], test: list[int], test_annos_in_devkit: bool = False) -> None:
    """torchvision's ``stanford_cars`` layout; annotations ``.mat`` struct arrays with 1-based ``class``."""
    from scipy.io import savemat

    base = root / "stanford_cars"
    (base / "devkit").mkdir(parents=True)
    names = np.array([f"Car Model {c + 1} 2012" for c in range(196)], dtype=object)
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": names.reshape(1, -1)})
    fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    for split, classes in (("train", train), ("test", test)):
        table = np.zeros((1, len(classes)), dtype=fields)
        for i, c in enumerate(classes):
            fname = f"{i + 1:05d}.jpg"
            table[0, i] = (1, 1, 10, 10, c + 1, fname)
            write_image(base / f"cars_{split}" / fname)
        annos = (
            base / "devkit" / "cars_train_annos.mat"
            if split == "train"
            else (
                base / "devkit" / "cars_test_annos_withlabels.mat"
                if test_annos_in_devkit
                else base / "cars_test_annos_withlabels.mat"
            )
        )
        savemat(annos, {"annotations": table})
