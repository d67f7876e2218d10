"""The one shape every dataset source returns: `Dataset`.

A source is a function `(DataConfig, seed) -> Dataset` registered by name in
core.data.registry. Path datasets (image folders, manifests, .npz) are resolved by
`core.data.load.load_dataset` from the path itself, so users never name a source for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from core.errors import DataError

IMAGE = "image"
TABULAR = "tabular"
OUTPUTS = "outputs"
"""A trained model's features and probabilities handed in (core.data.outputs): no training."""
TEXT = "text"
"""Texts (core.data.text): inputs are a frozen encoder's embeddings, float32 (n, D); the texts travel along."""


def _bytes_view(array: np.ndarray) -> np.ndarray:
    """The array's bytes as a flat uint8 view (no copy of a contiguous array), for hashing."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


@dataclass
class Dataset:
    """A labelled train split and a held-out test split, in memory.

    Inputs are images, uint8 of shape (n, channels, height, width), tabular features,
    float32 of shape (n, n_features), a trained model's penultimate features (OUTPUTS,
    float32 (n, D), with `train_probs` / `test_probs`), or a text encoder's embeddings of
    `texts_train` / `texts_test` (TEXT, float32 (n, D)); `kind` says which.
    `task` says what a label is (core.tasks): classification, (n,) int64 class indices into
    `class_names`; multilabel, (n, C) uint8 tag indicators, `class_names` the C tags; regression,
    (n,) float64 values, `class_names` the one target's name.
    """

    name: str
    kind: str
    x_train: np.ndarray
    given_train: np.ndarray
    """(n_train,) int64 (or the task's form): the labels training sees, possibly noisy."""
    true_train: np.ndarray | None
    """The clean labels when known (injected noise, CIFAR-N), else None; same form as given_train."""
    x_test: np.ndarray
    y_test: np.ndarray
    """The test labels: clean ones whenever the source knows them; same form as given_train."""
    class_names: list[str]
    source_train: list[str]
    """Per training sample: file path relative to the dataset root, or 'row N' of the file."""
    default_model: str = "mlp"
    """What `--model auto` picks for tabular data (the paper's blobs: logreg); image and outputs data go
    by core.models.choice."""
    notes: list[str] = field(default_factory=list)
    """Human-readable remarks made while loading (resizing, carved splits, injected noise)."""
    train_probs: np.ndarray | None = None
    """(n_train, C) float32 probabilities of the user's own model (OUTPUTS datasets only)."""
    test_probs: np.ndarray | None = None
    """(n_test, C) float32, the same for the test split (OUTPUTS datasets only; may have 0 rows)."""
    test_labels_verified: bool = False
    """True when the source vouches for its test labels (a curated test set, known truth); False when
    the test split carries the same unverified labels as training (a carved split of user labels)."""
    texts_train: list[str] | None = None
    """Per training sample, its text (TEXT datasets only)."""
    texts_test: list[str] | None = None
    """Per test sample, its text (TEXT datasets only)."""
    embeddings_train: np.ndarray | None = None
    """TEXT datasets whose model reads token ids (`x_train` (n, 2, L) int64): the frozen encoder's embeddings
    of the training texts, float32 (n, D), for the input-space map."""
    encoder: dict | None = None
    """TEXT datasets: which encoder embedded the texts (core.models.encoder.EncoderInfo fields: name, path,
    sha256, max_length, ...) and `n_truncated`, the texts cut at max_length."""
    task: str = "classification"
    """The task kind (core.tasks.registry): classification, multilabel or regression."""
    test_split_carved: bool = True
    """True when the test split was carved from the training labels here; False when the data came
    with its own test split (a test/ folder, a split column, X_test, outputs_test): its labels are
    then as trustworthy as their source, which gradsift cannot check."""

    def __post_init__(self) -> None:
        n = len(self.x_train)
        if n == 0:
            raise DataError(f"dataset {self.name!r}: the training split is empty")
        if len(self.x_test) == 0 and self.kind != OUTPUTS:
            raise DataError(f"dataset {self.name!r}: the test split is empty")
        from core.tasks.base import make_task

        task = make_task(self.task)
        for label_name, expected in (("given_train", n), ("true_train", n), ("y_test", len(self.x_test))):
            labels = getattr(self, label_name)
            if labels is not None:
                setattr(self, label_name, task.check_labels(f"dataset {self.name!r}: {label_name}", labels,
                                                            expected, self.n_classes))
        if len(self.source_train) != n:
            raise DataError(f"dataset {self.name!r}: {len(self.source_train)} sources for {n} samples")
        if len(np.unique(self.given_train, axis=0)) < 2:
            raise DataError(f"dataset {self.name!r}: every training label is the same (a single class or "
                            "value); need at least 2 different ones")
        if self.kind == TEXT and (self.texts_train is None or len(self.texts_train) != n
                                  or self.texts_test is None or len(self.texts_test) != len(self.x_test)):
            raise DataError(f"dataset {self.name!r}: a text dataset needs one text per train and test sample")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def fingerprint(self) -> str:
        """Hash of inputs and labels: a changed file on disk is detected on resume.

        A text dataset is hashed by its texts and the encoder's content hash and maximum length
        instead of its embeddings, so the fingerprint does not hang on the float rounding of a device.
        """
        digest = hashlib.sha256()
        if self.kind == TEXT:
            for texts in (self.texts_train, self.texts_test):
                for text in texts:
                    encoded = text.encode("utf-8", "surrogatepass")
                    digest.update(len(encoded).to_bytes(8, "little") + encoded)
            digest.update(f"{self.encoder['sha256']}:{self.encoder['max_length']}:{self.encoder['pooling']}:"
                          f"{self.encoder['normalize']}".encode())
            arrays = (self.given_train, self.y_test)
        else:
            arrays = (self.x_train, self.given_train, self.x_test, self.y_test)
        for array in arrays:
            digest.update(_bytes_view(array))
        if self.true_train is not None:
            digest.update(_bytes_view(self.true_train))
        digest.update("\x00".join(self.class_names).encode())
        if self.task != "classification":
            digest.update(self.task.encode())
        return digest.hexdigest()[:16]
