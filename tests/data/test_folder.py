"""Image folders: class sub-folders, mixed modes and sizes, skipped files, broken images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import DataConfig, TrainConfig
from core.data.base import IMAGE
from core.data.load import load_dataset
from core.errors import DataError
from core.models.choice import choose_model


def save(path: Path, mode: str = "RGB", size: tuple[int, int] = (8, 8), value: int = 0) -> Path:
    """Write a small image (size is width, height) whose pixels vary with `value`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode).save(path)
    return path


def make_mixed_folder(root: Path) -> Path:
    """cat: 4 RGB PNGs; dog: 3 grayscale PNGs + one 10x12 JPEG; plus clutter and an empty class."""
    for i in range(4):
        save(root / "cat" / f"c{i}.png", "RGB", value=i)
    for i in range(3):
        save(root / "dog" / f"d{i}.PNG", "L", value=10 + i)
    save(root / "dog" / "big.jpg", "L", size=(10, 12), value=20)
    (root / "dog" / "README.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "empty").mkdir()
    return root


def test_mixed_folder(tmp_path: Path) -> None:
    root = make_mixed_folder(tmp_path / "pets")
    data = load_dataset(DataConfig(dataset=str(root)), 0)
    assert data.kind == IMAGE and data.name == "pets"
    assert data.class_names == ["cat", "dog"]
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (3, 8, 8)
    assert len(data.x_train) + len(data.x_test) == 8 and len(data.x_test) == 2
    assert data.true_train is None and choose_model(data, TrainConfig(pretrained=False)).name == "cnn"
    assert set(data.source_train) <= {f"cat/c{i}.png" for i in range(4)} | {f"dog/d{i}.PNG" for i in range(3)} | {
        "dog/big.jpg"}
    notes = " | ".join(data.notes)
    assert "resized 1 images to 8x8" in notes
    assert "skipped 2 files" in notes
    assert "skipped 1 empty class folders: empty" in notes
    assert "converted 4 grayscale images to RGB" in notes
    assert "stratified 20% test split (seed 0)" in notes


def test_pixels_and_labels_match_the_files(tmp_path: Path) -> None:
    root = make_mixed_folder(tmp_path / "pets")
    data = load_dataset(DataConfig(dataset=str(root)), 0)
    for x, label, source in zip(data.x_train, data.given_train, data.source_train):
        assert data.class_names[label] == source.split("/")[0]
        if source.startswith("cat/"):
            expected = np.asarray(Image.open(root / source).convert("RGB")).transpose(2, 0, 1)
            assert np.array_equal(x, expected)


def test_all_grayscale_gives_one_channel(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / cls / f"{i}.png", "L", value=i)
    data = load_dataset(DataConfig(dataset=str(tmp_path)), 0)
    assert data.x_train.shape[1:] == (1, 8, 8)


def test_image_size_and_large_images(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / cls / f"{i}.png", size=(40 + i, 40), value=i)
    data = load_dataset(DataConfig(dataset=str(tmp_path)), 0)
    assert data.x_train.shape[2:] == (40, 40)
    small = load_dataset(DataConfig(dataset=str(tmp_path), image_size=16), 0)
    assert small.x_train.shape[2:] == (16, 16)
    assert any("resized 6 images to 16x16" in note for note in small.notes)


def test_train_test_layout(tmp_path: Path) -> None:
    for side, count in (("train", 3), ("test", 2)):
        for cls in ("x", "y"):
            for i in range(count):
                save(tmp_path / side / cls / f"{i}.png", value=i)
    data = load_dataset(DataConfig(dataset=str(tmp_path)), 0)
    assert len(data.x_train) == 6 and len(data.x_test) == 4
    assert all(source.startswith("train/") for source in data.source_train)
    assert data.class_names == ["x", "y"]
    assert any("train/ and test/" in note for note in data.notes)


def test_deterministic_split(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(10):
            save(tmp_path / cls / f"{i}.png", value=i)
    first = load_dataset(DataConfig(dataset=str(tmp_path)), 0)
    assert load_dataset(DataConfig(dataset=str(tmp_path)), 0).source_train == first.source_train
    assert load_dataset(DataConfig(dataset=str(tmp_path)), 1).source_train != first.source_train


def test_corrupt_image_named(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / cls / f"{i}.png", value=i)
    (tmp_path / "b" / "fake.jpg").write_text("I am text")
    with pytest.raises(DataError, match="b/fake.jpg"):
        load_dataset(DataConfig(dataset=str(tmp_path)), 0)


def test_truncated_image_named(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / cls / f"{i}.png", size=(64, 64), value=i)
    path = tmp_path / "a" / "1.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="a/1.png"):
        load_dataset(DataConfig(dataset=str(tmp_path)), 0)


def test_no_images(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no images"):
        load_dataset(DataConfig(dataset=str(tmp_path)), 0)
