"""CIFAR-N sources on tiny fake files written in the real formats; unsafe files are refused."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import DataConfig, TrainConfig
from core.data.cifar import read_batch, read_label_file
from core.data.load import load_dataset
from core.errors import DataError
from core.models.choice import choose_model

PER_BATCH = 4
N_TRAIN = 5 * PER_BATCH


def _batch(n: int, labels: list[int], key: bytes = b"labels", seed: int = 0) -> dict:
    data = np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return {b"batch_label": b"fake", key: labels, b"data": data, b"filenames": [b"x.png"] * n}


def _write_pickle(path: Path, obj: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(obj, file, protocol=protocol)


def make_cifar10n(root: Path, meta: bool = True) -> dict[str, np.ndarray]:
    """Five 4-image train batches, a 4-image test batch and CIFAR-10_human.pt; returns the label dict."""
    clean = np.arange(N_TRAIN) % 10
    for b in range(5):
        _write_pickle(root / "cifar-10-batches-py" / f"data_batch_{b + 1}",
                      _batch(PER_BATCH, clean[b * PER_BATCH:(b + 1) * PER_BATCH].tolist(), seed=b),
                      protocol=2 if b == 0 else pickle.DEFAULT_PROTOCOL)
    _write_pickle(root / "cifar-10-batches-py" / "test_batch", _batch(4, [3, 1, 4, 1], seed=9))
    if meta:
        names = [f"class{i}".encode() for i in range(10)]
        _write_pickle(root / "cifar-10-batches-py" / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    labels = {
        "clean_label": clean,
        "aggre_label": clean.copy(),
        "random_label1": (clean + 1) % 10,
        "random_label2": (clean + 2) % 10,
        "random_label3": clean.copy(),
        "worse_label": (clean + 3) % 10,
    }
    labels["aggre_label"][:2] = (clean[:2] + 5) % 10
    torch.save(labels, root / "CIFAR-10_human.pt")
    return labels


def make_cifar100n(root: Path) -> None:
    clean = np.arange(8) % 100
    _write_pickle(root / "cifar-100-python" / "train", _batch(8, clean.tolist(), key=b"fine_labels"))
    _write_pickle(root / "cifar-100-python" / "test", _batch(3, [5, 6, 7], key=b"fine_labels"))
    noisy = clean.copy()
    noisy[0] = 50
    torch.save({"clean_label": clean, "noisy_label": noisy}, root / "CIFAR-100_noisy_label.pt")


def test_cifar10n_loads(tmp_path: Path) -> None:
    labels = make_cifar10n(tmp_path)
    data = load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    assert data.x_train.shape == (N_TRAIN, 3, 32, 32) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (4, 3, 32, 32)
    assert np.array_equal(data.given_train, labels["aggre_label"])
    assert np.array_equal(data.true_train, labels["clean_label"])
    assert data.y_test.tolist() == [3, 1, 4, 1]
    assert data.class_names == [f"class{i}" for i in range(10)]
    assert choose_model(data, TrainConfig(pretrained=False)).name == "cnn"  # 8x8 test images: small
    assert data.source_train[5] == "cifar-10-batches-py/data_batch_2 row 1"
    first = pickle.load(open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb"), encoding="bytes")
    assert np.array_equal(data.x_train[0].reshape(-1), first[b"data"][0])
    assert any("aggregate" in note and "10.00%" in note for note in data.notes)


@pytest.mark.parametrize("label_set, key", [("random1", "random_label1"), ("random2", "random_label2"),
                                            ("random3", "random_label3"), ("worst", "worse_label")])
def test_cifar10n_label_sets(tmp_path: Path, label_set: str, key: str) -> None:
    labels = make_cifar10n(tmp_path, meta=False)
    data = load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path), label_set=label_set), 0)
    assert np.array_equal(data.given_train, labels[key])
    assert data.class_names[0] == "airplane"


def test_cifar100n_loads(tmp_path: Path) -> None:
    make_cifar100n(tmp_path)
    data = load_dataset(DataConfig(dataset="cifar100n", data_dir=str(tmp_path)), 0)
    assert data.n_classes == 100 and data.x_train.shape == (8, 3, 32, 32)
    assert (data.given_train != data.true_train).sum() == 1
    assert data.y_test.tolist() == [5, 6, 7]


def test_unknown_label_set(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    with pytest.raises(DataError, match="noisy100") as err:
        load_dataset(DataConfig(dataset="cifar100n", data_dir=str(tmp_path), label_set="worst"), 0)
    assert "worst" in str(err.value)


def test_needs_data_dir() -> None:
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset(DataConfig(dataset="cifar10n"), 0)


def test_missing_files_listed_in_one_error(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    (tmp_path / "CIFAR-10_human.pt").unlink()
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    message = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in message
    assert str(tmp_path / "CIFAR-10_human.pt") in message
    assert "data_batch_1" not in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    assert "https://github.com/UCSC-REAL/cifar-10-100n" in message and "data/CIFAR-10_human.pt" in message


def test_empty_dir_lists_everything(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset="cifar100n", data_dir=str(tmp_path)), 0)
    for name in ("cifar-100-python/train", "cifar-100-python/test", "CIFAR-100_noisy_label.pt"):
        assert str(tmp_path / name) in str(err.value)


def test_label_length_mismatch(tmp_path: Path) -> None:
    labels = make_cifar10n(tmp_path)
    labels["worse_label"] = labels["worse_label"][:-1]
    torch.save(labels, tmp_path / "CIFAR-10_human.pt")
    with pytest.raises(DataError, match="worse_label") as err:
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path), label_set="worst"), 0)
    assert "CIFAR-10_human.pt" in str(err.value) and f"({N_TRAIN},)" in str(err.value)
    assert f"({N_TRAIN - 1},)" in str(err.value)


def test_missing_label_key(tmp_path: Path) -> None:
    labels = make_cifar10n(tmp_path)
    del labels["random_label2"]
    torch.save(labels, tmp_path / "CIFAR-10_human.pt")
    with pytest.raises(DataError, match="random_label2"):
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path), label_set="random2"), 0)


def test_wrong_data_width(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    bad = _batch(PER_BATCH, [0, 1, 2, 3])
    bad[b"data"] = bad[b"data"][:, :100]
    _write_pickle(tmp_path / "cifar-10-batches-py" / "data_batch_4", bad)
    with pytest.raises(DataError, match="data_batch_4") as err:
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    assert "3072" in str(err.value) and "(4, 100)" in str(err.value)


def test_batch_label_count_mismatch(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    _write_pickle(tmp_path / "cifar-10-batches-py" / "test_batch", _batch(4, [1, 2]))
    with pytest.raises(DataError, match="test_batch") as err:
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    assert "'labels'" in str(err.value)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_batch_refused(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    marker = tmp_path / "pwned"
    _write_pickle(tmp_path / "cifar-10-batches-py" / "data_batch_2", {b"data": _Exploit(marker), b"labels": []})
    with pytest.raises(DataError, match="refusing to unpickle") as err:
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    assert "system" in str(err.value) and "data_batch_2" in str(err.value)
    assert not marker.exists()


def test_malicious_label_file_refused(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"clean_label": _Exploit(marker)}, tmp_path / "CIFAR-10_human.pt")
    with pytest.raises(DataError, match="CIFAR-10_human.pt"):
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path)), 0)
    assert not marker.exists()


def test_garbage_batch(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="batch"):
        read_batch(path)


def test_label_file_from_older_numpy(tmp_path: Path) -> None:
    """The published .pt files were written with numpy 1.x, whose arrays pickle as numpy.core.*."""
    buffer = io.BytesIO()
    torch.save({"clean_label": np.arange(4)}, buffer, _use_new_zipfile_serialization=False, pickle_protocol=2)
    raw = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in raw
    (tmp_path / "old.pt").write_bytes(raw)
    assert read_label_file(tmp_path / "old.pt")["clean_label"].tolist() == [0, 1, 2, 3]


def test_injected_noise_refused_because_labels_are_real(tmp_path: Path) -> None:
    make_cifar10n(tmp_path)
    with pytest.raises(DataError, match="clean labels"):
        load_dataset(DataConfig(dataset="cifar10n", data_dir=str(tmp_path), noise_rate=0.1), 0)
