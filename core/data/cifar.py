"""CIFAR-10N and CIFAR-100N: CIFAR images with real human label noise (Wei et al. 2022).

Files expected under `--data-dir` (DIR):
- CIFAR-10N: DIR/cifar-10-batches-py/data_batch_1..5 and test_batch (python pickles of dicts
  with b'data' uint8 (N, 3072) and b'labels'; batches.meta with b'label_names' is optional)
  and DIR/CIFAR-10_human.pt (torch-saved dict of numpy arrays: clean_label, aggre_label,
  random_label1..3, worse_label).
- CIFAR-100N: DIR/cifar-100-python/train and test (b'data', b'fine_labels'; meta with
  b'fine_label_names' optional) and DIR/CIFAR-100_noisy_label.pt (clean_label, noisy_label).

The training labels are the chosen human label set (`cfg.label_set`), `true_train` the CIFAR
labels (`clean_label`), and the test labels the clean CIFAR test labels. Images are uint8
(n, 3, 32, 32). Downloaded files are never unpickled with plain pickle: batches go through
an unpickler that only rebuilds numpy arrays, and the label files through
`torch.load(weights_only=True)` with only numpy's array reconstruction allowed.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import DataConfig
from core.data.base import IMAGE, Dataset
from core.errors import DataError

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFARN_URL = "https://github.com/UCSC-REAL/cifar-10-100n"
IMAGE_WIDTH = 3 * 32 * 32
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR-N variant keeps its files and which keys hold what."""

    name: str
    batch_dir: str
    train_batches: tuple[str, ...]
    test_batch: str
    meta_file: str
    label_key: str
    names_key: str
    label_file: str
    label_sets: dict[str, str]
    """label_set name -> key of the human labels in `label_file`."""
    default_label_set: str
    n_classes: int
    fallback_names: tuple[str, ...]

    def required_files(self, root: Path) -> list[Path]:
        batches = [*self.train_batches, self.test_batch]
        return [root / self.batch_dir / b for b in batches] + [root / self.label_file]


CIFAR10N = CifarLayout(
    name="cifar10n", batch_dir="cifar-10-batches-py",
    train_batches=tuple(f"data_batch_{i}" for i in range(1, 6)), test_batch="test_batch",
    meta_file="batches.meta", label_key="labels", names_key="label_names", label_file="CIFAR-10_human.pt",
    label_sets={"aggregate": "aggre_label", "random1": "random_label1", "random2": "random_label2",
                "random3": "random_label3", "worst": "worse_label"},
    default_label_set="aggregate", n_classes=10, fallback_names=tuple(CIFAR10_NAMES),
)
CIFAR100N = CifarLayout(
    name="cifar100n", batch_dir="cifar-100-python", train_batches=("train",), test_batch="test",
    meta_file="meta", label_key="fine_labels", names_key="fine_label_names", label_file="CIFAR-100_noisy_label.pt",
    label_sets={"noisy100": "noisy_label"}, default_label_set="noisy100", n_classes=100,
    fallback_names=tuple(str(i) for i in range(100)),
)

_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SAFE_PICKLE_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
"""Everything a CIFAR batch pickle may reference: numpy array reconstruction, nothing else.
(`_codecs.encode` rebuilds bytes in protocol-2 pickles written by Python 3.)"""


class SafeBatchUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy array reconstruction."""

    def __init__(self, file: io.BufferedIOBase, shown: str) -> None:
        super().__init__(file, encoding="bytes")
        self.shown = shown

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE_PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"{self.shown}: refusing to unpickle {module}.{name}; a CIFAR batch only holds numpy "
                            "arrays, lists and bytes (the file may be malicious or not a CIFAR batch)") from None


def read_batch(path: Path) -> dict[str, Any]:
    """A CIFAR python batch as a dict with str keys (the originals use bytes keys)."""
    try:
        with open(path, "rb") as file:
            content = SafeBatchUnpickler(file, str(path)).load()
    except DataError:
        raise
    except Exception as exc:  # a damaged pickle can raise nearly anything
        raise DataError(f"{path}: cannot read the CIFAR batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(content).__name__}")
    return {key.decode("latin-1") if isinstance(key, bytes) else str(key): value for key, value in content.items()}


def _numpy_safe_globals() -> list[Any]:
    dtype_classes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdg"}
    return [(_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
            (_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),
            np.ndarray, np.dtype, *sorted(dtype_classes, key=lambda c: c.__name__)]


def read_label_file(path: Path) -> dict[str, Any]:
    """The CIFAR-N label dict, loaded with torch's weights-only unpickler (numpy arrays allowed)."""
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise DataError(f"{path}: refused to load: the file holds objects other than numpy arrays "
                        f"({first_line[:200]})") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read the CIFAR-N label file ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a dict of label arrays, found {type(content).__name__}")
    return {str(key): value for key, value in content.items()}


def _labels(values: Any, shown: str, key: str, expected_len: int, n_classes: int) -> np.ndarray:
    """(expected_len,) int64 labels in [0, n_classes), or DataError naming file and key."""
    if isinstance(values, torch.Tensor):
        values = values.numpy()
    try:
        labels = np.asarray(values)
    except Exception:
        raise DataError(f"{shown}: key {key!r} is not an array of labels") from None
    if labels.shape != (expected_len,) or labels.dtype.kind not in "iu":
        raise DataError(f"{shown}: key {key!r} should be ({expected_len},) integer labels; "
                        f"found shape {labels.shape}, dtype {labels.dtype}")
    if expected_len and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{shown}: key {key!r} holds labels outside [0, {n_classes - 1}]")
    return labels.astype(np.int64)


def _images(batch: dict[str, Any], shown: str) -> np.ndarray:
    if "data" not in batch:
        raise DataError(f"{shown}: key 'data' missing; found keys {', '.join(sorted(batch))}")
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != IMAGE_WIDTH or data.dtype != np.uint8:
        raise DataError(f"{shown}: key 'data' should be uint8 of shape (N, {IMAGE_WIDTH}); "
                        f"found shape {data.shape}, dtype {data.dtype}")
    return data.reshape(-1, 3, 32, 32)


def _load_split(layout: CifarLayout, root: Path,
                names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Concatenated images (n, 3, 32, 32), labels (n,) and per-image sources from batch files."""
    images, labels, sources = [], [], []
    for name in names:
        relative = f"{layout.batch_dir}/{name}"
        batch = read_batch(root / relative)
        batch_images = _images(batch, str(root / relative))
        if layout.label_key not in batch:
            raise DataError(f"{root / relative}: key {layout.label_key!r} missing; "
                            f"found keys {', '.join(sorted(batch))}")
        labels.append(_labels(batch[layout.label_key], str(root / relative), layout.label_key, len(batch_images),
                              layout.n_classes))
        images.append(batch_images)
        sources += [f"{relative} row {i}" for i in range(len(batch_images))]
    return np.concatenate(images), np.concatenate(labels), sources


def _class_names(layout: CifarLayout, root: Path) -> tuple[list[str], str | None]:
    """Names from the optional meta file, else the standard ones; plus a note when falling back."""
    meta_path = root / layout.batch_dir / layout.meta_file
    if not meta_path.is_file():
        return list(layout.fallback_names), f"{meta_path.name} not found: using standard class names"
    names = read_batch(meta_path).get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.n_classes:
        raise DataError(f"{meta_path}: key {layout.names_key!r} should list {layout.n_classes} class names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names], None


def _check_files(layout: CifarLayout, root: Path) -> None:
    missing = [path for path in layout.required_files(root) if not path.is_file()]
    if missing:
        listing = "\n".join(f"  {path}" for path in missing)
        raise DataError(
            f"{layout.name}: {len(missing)} required files are missing:\n{listing}\n"
            f"Get the CIFAR python batches from {CIFAR_URL} and extract them into {root}; get "
            f"{layout.label_file} from {CIFARN_URL} (file data/{layout.label_file}) and place it in {root}."
        )


def load_cifar_n(layout: CifarLayout, cfg: DataConfig) -> Dataset:
    """CIFAR-N dataset: human labels for the 50,000 training images, clean test labels."""
    if cfg.data_dir is None:
        raise DataError(f"{layout.name} reads downloaded files: pass --data-dir pointing at the folder "
                        f"holding {layout.batch_dir}/ and {layout.label_file}")
    label_set = cfg.label_set if cfg.label_set is not None else layout.default_label_set
    if label_set not in layout.label_sets:
        raise DataError(f"{layout.name}: unknown label set {label_set!r}; valid label sets: "
                        f"{', '.join(layout.label_sets)}")
    root = Path(cfg.data_dir).expanduser()
    _check_files(layout, root)
    x_train, cifar_train, sources = _load_split(layout, root, layout.train_batches)
    x_test, y_test, _ = _load_split(layout, root, (layout.test_batch,))
    label_path = root / layout.label_file
    human = read_label_file(label_path)
    noisy_key = layout.label_sets[label_set]
    for key in ("clean_label", noisy_key):
        if key not in human:
            raise DataError(f"{label_path}: key {key!r} missing; found keys {', '.join(sorted(human))}")
    clean = _labels(human["clean_label"], str(label_path), "clean_label", len(x_train), layout.n_classes)
    given = _labels(human[noisy_key], str(label_path), noisy_key, len(x_train), layout.n_classes)
    class_names, names_note = _class_names(layout, root)
    notes = [f"label set {label_set} ({noisy_key}): {(given != clean).mean():.2%} of training labels "
             "differ from the clean CIFAR labels"]
    mismatch = int((clean != cifar_train).sum())
    if mismatch:
        notes.append(f"{label_path.name}: clean_label differs from the CIFAR batch labels in {mismatch} images")
    if names_note:
        notes.append(names_note)
    return Dataset(
        name=layout.name,
        kind=IMAGE,
        x_train=x_train,
        given_train=given,
        true_train=clean,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        source_train=sources,
        notes=notes,
        test_labels_verified=True,
    )


def load_cifar10n(cfg: DataConfig, seed: int) -> Dataset:
    """cifar10n: images (50000, 3, 32, 32) uint8, human labels; test (10000, 3, 32, 32)."""
    return load_cifar_n(CIFAR10N, cfg)


def load_cifar100n(cfg: DataConfig, seed: int) -> Dataset:
    """cifar100n: images (50000, 3, 32, 32) uint8, 100 classes of human fine labels; test (10000, ...)."""
    return load_cifar_n(CIFAR100N, cfg)
