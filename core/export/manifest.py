"""`gradsift export --format manifest`: the reviewed training set as a manifest `gradsift analyze` reads back.

The rows are the reviewed training set (`reviewed_rows`: confirmed-mislabeled samples removed,
relabels applied; the rule lives here once, and the dashboard's "Download cleaned manifest" is
this export); the columns are the ones core.data.manifest reads, so `gradsift analyze --dataset
<out>` analyzes the cleaned data:

- `sample_id` (the run's, for provenance; a manifest's sample_id is never a feature);
- `label`: the class name after the reviews;
- `true_label`: the clean class name, when the run knows it;
- the inputs: `path` (absolute) when the run's samples are files (an image folder, a manifest
  with a path column); for other image runs (e.g. digits) the stored images are written as
  PNG files into `<out stem>_images/` beside the manifest and `path` is relative to it; for
  text runs the `text` column; for tabular runs the feature columns, reloaded from the run's dataset (named as in
  the user's manifest, else x0, x1, ...).

Multi-label runs write `labels` (the tag names after the reviews, `|`-joined; '' = no tag) and `true_labels`;
regression runs write `target` (the value after the reviews) and `true_target`: the columns core.data.manifest
reads as a multi-label or a regression dataset.

Only the training split is exported: the reviewed training set is what a new analysis needs
(it carves its own seeded test split). CSV or parquet by the suffix of `--out`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.base import IMAGE
from core.data.manifest import (
    LABEL,
    PATH,
    RESERVED_COLUMNS,
    SAMPLE_ID,
    TEXT,
    TRUE_LABEL,
)
from core.errors import ConfigError
from core.export.files import new_directory, refuse_existing, write_new
from core.export.images import png_bytes
from core.export.source import REVIEW, REVIEW_LABEL, ExportSource, Written, files_base
from core.run import schema
from core.run.reviews import MISLABELED, RELABEL

SUFFIXES = (".csv", ".parquet")
LABELS, TRUE_LABELS, TARGET, TRUE_TARGET = "labels", "true_labels", "target", "true_target"
"""The manifest columns of tag sets and of numeric targets (the manifest reader's names, core.data.manifest)."""
IMAGES_SUFFIX = "_images"


def images_dir(out: Path) -> Path:
    """Where the PNG files of an in-memory image run go: `<out stem>_images/` beside the manifest."""
    return out.with_name(f"{out.stem}{IMAGES_SUFFIX}")


def writes_images(kind: str | None, dataset: str, sources: Iterable[object]) -> bool:
    """Whether the manifest of a run (its manifest's dataset kind, None = image as `load_source` reads it; its
    config's dataset; its samples' `source`s) comes with an image folder: an image run whose samples are not
    files (digits, MNIST, an .npz of images)."""
    return (kind or IMAGE) == IMAGE and files_base(dataset, sources) is None


def reviewed_rows(source: ExportSource) -> tuple[np.ndarray, np.ndarray]:
    """(kept sample ids, their class index after the reviews) of the training split: samples confirmed
    mislabeled are removed, relabels applied, `keep` and unreviewed samples stay as given."""
    table = source.table
    review = table[REVIEW].to_numpy()
    labels = table[schema.GIVEN_LABEL].to_numpy(dtype=np.int64).copy()
    relabel = review == RELABEL
    labels[relabel] = table[REVIEW_LABEL].to_numpy()[relabel].astype(np.int64)
    kept = review != MISLABELED
    return table[schema.SAMPLE_ID].to_numpy(dtype=np.int64)[kept], labels[kept]


def manifest_frame(source: ExportSource) -> tuple[pd.DataFrame, np.ndarray]:
    """(the manifest without its inputs, the kept sample ids); inputs are added by the caller."""
    if source.task != "classification":
        return _kind_frame(source)
    kept, labels = reviewed_rows(source)
    frame = pd.DataFrame({SAMPLE_ID: kept, LABEL: np.asarray(source.class_names, dtype=object)[labels]})
    files = source.sample_files(np.arange(len(source.table)))
    if files is not None:
        frame[PATH] = [str(files[i]) for i in kept]
    if source.has_truth:
        truth = source.table[schema.TRUE_LABEL].to_numpy(dtype=object)[kept]
        if any(pd.isna(t) for t in truth):
            raise ConfigError(f"{source.run.path}: some samples lack a true label; cannot write a true_label column")
        frame[TRUE_LABEL] = np.asarray(source.class_names, dtype=object)[truth.astype(np.int64)]
    return frame, kept


def _kind_frame(source: ExportSource) -> tuple[pd.DataFrame, np.ndarray]:
    from core.export.source import reviewed_labels
    from core.export.source_kinds import tag_text

    rows, labels = reviewed_labels(source)
    kept = source.table[schema.SAMPLE_ID].to_numpy(dtype=np.int64)[rows]
    truth = source.table[source.truth_column].to_numpy(dtype=object)[rows]
    if source.task == "multilabel":
        frame = pd.DataFrame({SAMPLE_ID: kept, LABELS: [tag_text(t, source.class_names) for t in labels]})
    else:
        frame = pd.DataFrame({SAMPLE_ID: kept, TARGET: np.asarray(labels, np.float64)})
    files = source.sample_files(np.arange(len(source.table)))
    if files is not None:
        frame[PATH] = [str(files[i]) for i in kept]
    if source.has_truth:
        if any(t is None or t is pd.NA for t in truth):
            raise ConfigError(f"{source.run.path}: some samples lack their true labels; cannot write a truth column")
        frame[TRUE_LABELS if source.task == "multilabel" else TRUE_TARGET] = (
            [tag_text(t, source.class_names) for t in truth] if source.task == "multilabel"
            else np.asarray(truth, np.float64))
    return frame, kept


def _with_features(source: ExportSource, frame: pd.DataFrame, kept: np.ndarray) -> pd.DataFrame:
    from core.export.features import split_features

    names, features = split_features(source)
    clashes = [n for n in names if n in RESERVED_COLUMNS]
    if clashes:
        raise ConfigError(f"feature column(s) {', '.join(clashes)} would clash with the manifest's own columns")
    values = pd.DataFrame(features[kept].astype(np.float64), columns=names)
    return pd.concat([frame.reset_index(drop=True), values], axis=1)


def _write_table(frame: pd.DataFrame, out: Path) -> None:
    if out.suffix.lower() == ".csv":
        write_new(out, frame.to_csv(index=False).encode())
    else:
        write_new(out, lambda handle: frame.to_parquet(handle, index=False))


def export(source: ExportSource, out: Path, only: str, image_root: Path | None = None) -> Written:
    """Write the cleaned manifest to `out` (and, for in-memory image runs, its images); never overwrites."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"--out {out}: a manifest is written as .csv or .parquet, not {suffix or 'no suffix'}")
    if source.split != "train":
        raise ConfigError("--format manifest exports the reviewed training set; --split test is not supported")
    if only != "all":
        raise ConfigError("--format manifest writes the whole reviewed training set; drop --only flagged")
    if image_root is not None:
        raise ConfigError("--image-root applies to --format label-studio only")
    frame, kept = manifest_frame(source)
    texts = source.texts()
    if texts is not None:
        frame.insert(2, TEXT, [texts[i] for i in kept])
        _write_table(frame, out)
        return Written([out], len(frame), "manifest rows")
    if not source.is_image:
        _write_table(_with_features(source, frame, kept), out)
        return Written([out], len(frame), "manifest rows")
    if PATH in frame.columns:
        _write_table(frame, out)
        return Written([out], len(frame), "manifest rows")
    images = images_dir(out)
    refuse_existing(out, images)
    thumbnails = source.thumbnails()
    relative = [f"{images.name}/{sample_id:06d}.png" for sample_id in kept]
    frame.insert(2, PATH, relative)
    with new_directory(images) as tmp:
        for name, sample_id in zip(relative, kept):
            (tmp / Path(name).name).write_bytes(png_bytes(thumbnails[int(sample_id)]))
    try:
        _write_table(frame, out)
    except BaseException:
        import shutil

        shutil.rmtree(images)  # the manifest and its images, or neither
        raise
    return Written([out, images], len(frame), "manifest rows")
