"""Image files on disk: a folder of class sub-folders, and the image reader manifests share.

Layout: every immediate sub-directory of the root is a class (sorted names = class
names), holding images at any depth. If the root holds `train/` and `test/`, each with
class folders, those give the split; otherwise a seeded stratified test split is carved.

Images are decoded with Pillow. If every image is grayscale the arrays have 1 channel,
else all are converted to RGB (3). Mixed sizes are resized (bilinear) to
`cfg.image_size` when set, else to the most common size; `cfg.image_size` also resizes a
folder whose images all share another size. Files with other suffixes are skipped and
counted in the notes; a broken file with an image suffix is an error naming it.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.config import DataConfig
from core.data.base import IMAGE, Dataset
from core.data.split import carve_test_split, split_note
from core.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_PIL_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError,
               Image.DecompressionBombWarning, EOFError)


ImageSource = Path | bytes
"""An image to decode: a file, or its encoded bytes (a Hugging Face `Image` column stores those)."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _open(source: ImageSource) -> Image.Image:
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def _probe(path: ImageSource, shown: str) -> tuple[str, tuple[int, int]]:
    """(mode, (height, width)) from the file header; raises DataError naming `shown` if unreadable.

    Refused before any pixel is decoded: empty files, and images larger than Pillow's
    decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`), which a crafted file could use to
    exhaust memory.
    """
    if (len(path) if isinstance(path, bytes) else path.stat().st_size) == 0:
        raise DataError(f"{shown}: the file is empty (0 bytes); expected an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as img:
                return img.mode, (img.height, img.width)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{shown}: the image is larger than {Image.MAX_IMAGE_PIXELS:,} pixels (a possible "
                        "decompression bomb); shrink it or leave it out") from None
    except _PIL_ERRORS as exc:
        raise DataError(f"{shown}: not a readable image ({type(exc).__name__}: {exc})") from None


def _decode(path: ImageSource, shown: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Pixels of one image as uint8 (channels, height, width), converted and resized to `size`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as img:
                img.load()
                img = _to_8bit(img, channels)
                if (img.height, img.width) != size:
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.uint8)
    except _PIL_ERRORS as exc:
        raise DataError(f"{shown}: cannot decode image ({type(exc).__name__}: {exc})") from None
    return pixels[None, :, :] if channels == 1 else np.transpose(pixels, (2, 0, 1))


def _to_8bit(img: Image.Image, channels: int) -> Image.Image:
    """Convert to 'L' or 'RGB', scaling 16-bit and float grayscale into 0..255 instead of clipping."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if img.mode != "F" and values.max(initial=0) > 255:
            values = values / 257.0
        img = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), mode="L")
    return img.convert("L" if channels == 1 else "RGB")


def read_images(paths: list[ImageSource], shown: list[str], image_size: int | None) -> tuple[np.ndarray, list[str]]:
    """Decode image files (or their encoded bytes) into one uint8 array (n, C, H, W), plus notes on conversions.

    `shown` (n,) are the names used in error messages and notes (paths relative to the
    dataset root). C is 1 when every image is grayscale, else 3.
    """
    if not paths:
        raise DataError("no images to read")
    probes = [_probe(path, name) for path, name in zip(paths, shown)]
    channels = 1 if all(mode in GRAYSCALE_MODES for mode, _ in probes) else 3
    sizes = Counter(size for _, size in probes)
    if image_size is not None:
        target = (image_size, image_size)
    else:
        target = sizes.most_common(1)[0][0]
    notes = []
    n_resized = sum(count for size, count in sizes.items() if size != target)
    if n_resized:
        why = "the configured image_size" if image_size is not None else "the most common size"
        notes.append(f"resized {n_resized} images to {target[0]}x{target[1]} ({why})")
    if channels == 3 and any(mode in GRAYSCALE_MODES for mode, _ in probes):
        n_gray = sum(mode in GRAYSCALE_MODES for mode, _ in probes)
        notes.append(f"converted {n_gray} grayscale images to RGB (the folder mixes grayscale and color)")
    images = np.empty((len(paths), channels, *target), dtype=np.uint8)
    for i, (path, name) in enumerate(zip(paths, shown)):
        images[i] = _decode(path, name, channels, target)
    return images, notes


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(root: Path, base: Path) -> tuple[dict[str, list[Path]], list[str], int]:
    """Image files per class folder under `root`, names of empty class folders, count of skipped files."""
    per_class: dict[str, list[Path]] = {}
    empty: list[str] = []
    skipped = sum(1 for p in root.iterdir() if p.is_file())
    for class_dir in _class_dirs(root):
        files = sorted(p for p in class_dir.rglob("*") if p.is_file())
        images = [p for p in files if is_image_file(p) and not p.name.startswith(".")]
        skipped += len(files) - len(images)
        if images:
            per_class[class_dir.name] = images
        else:
            empty.append(class_dir.relative_to(base).as_posix())
    return per_class, empty, skipped


def _has_split_layout(root: Path) -> bool:
    return all((root / side).is_dir() and _class_dirs(root / side) for side in ("train", "test"))


def load_image_folder(root: Path, cfg: DataConfig, seed: int) -> Dataset:
    """Dataset from a folder of class sub-folders (or train/ and test/ of class sub-folders).

    x: uint8 (n, C, H, W); labels: index of the class folder in sorted order; source_train:
    posix paths relative to `root`.
    """
    root = Path(root)
    split_layout = _has_split_layout(root)
    sides = ("train", "test") if split_layout else ("",)
    scans = {side: _scan(root / side if side else root, root) for side in sides}
    class_names = sorted(set().union(*(scan[0] for scan in scans.values())))
    if not class_names:
        raise DataError(f"{root}: no images found; expected class sub-folders holding "
                        f"{', '.join(sorted(IMAGE_SUFFIXES))} files")
    notes = []
    if split_layout:
        notes.append("used the folder's train/ and test/ sub-folders as the split")
        others = [p.name for p in _class_dirs(root) if p.name not in ("train", "test")]
        if others:
            notes.append(f"ignored {len(others)} folders beside train/ and test/: {', '.join(others[:5])}")
    empty = [name for scan in scans.values() for name in scan[1]]
    if empty:
        notes.append(f"skipped {len(empty)} empty class folders: {', '.join(empty[:5])}")
    skipped = sum(scan[2] for scan in scans.values())
    if skipped:
        notes.append(f"skipped {skipped} files that are not images "
                     f"(suffix not in {', '.join(sorted(IMAGE_SUFFIXES))})")
    paths, labels, side_of = [], [], []
    for side, (per_class, _, _) in scans.items():
        for name, files in per_class.items():
            paths += files
            labels += [class_names.index(name)] * len(files)
            side_of += [side] * len(files)
    shown = [p.relative_to(root).as_posix() for p in paths]
    images, image_notes = read_images(paths, shown, cfg.image_size)
    notes += image_notes
    labels_arr = np.asarray(labels, dtype=np.int64)
    carved = not split_layout
    if split_layout:
        sides_arr = np.asarray(side_of)
        train_idx, test_idx = np.flatnonzero(sides_arr == "train"), np.flatnonzero(sides_arr == "test")
    else:
        train_idx, test_idx = carve_test_split(len(labels_arr), labels_arr, cfg.test_fraction, seed)
        notes.append(split_note(labels_arr, cfg.test_fraction, seed))
    return Dataset(
        name=root.resolve().name or str(root),
        kind=IMAGE,
        x_train=images[train_idx],
        given_train=labels_arr[train_idx],
        true_train=None,
        x_test=images[test_idx],
        y_test=labels_arr[test_idx],
        class_names=class_names,
        source_train=[shown[i] for i in train_idx],
        test_split_carved=carved,
        notes=notes,
    )
