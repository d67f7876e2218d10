"""`gradsift export --format fiftyone`: an image classification directory tree FiftyOne imports as is.

Layout (FiftyOne's `fiftyone.types.ImageClassificationDirectoryTree`: the first directory
of each file's path is its label; files directly in the root are skipped by the importer):

    <out>/<class name>/<sample_id, 6 digits>.png    the run's stored image, under its given label
    <out>/gradsift_samples.csv                       one row per exported image

The sidecar's columns: `filepath` (relative to `<out>`), `sample_id`, `source`,
`given_label`, `suggested_label`, `score` (the primary detector's; higher = more outlying),
`is_flagged`, `review`, `reviewed_label` (the label after the reviews: the relabel target,
or '' for a sample confirmed mislabeled), and `true_label` when the run knows it.
docs/exports.md shows the `fo.Dataset.from_dir` call and how to attach these fields.
Only image runs can be exported this way; class names must be usable as directory names.

A sample with several tags has no single directory, so multi-label and regression runs use FiftyOne's
`fiftyone.types.FiftyOneImageClassificationDataset` layout instead:

    <out>/data/<sample_id, 6 digits>.png    the run's stored image
    <out>/labels.json                       multi-label: {"classes": [...], "labels": {"000017": [{"label": "dog"}]}}
    <out>/gradsift_samples.csv              the sidecar, as above

Multi-label: each sample's label is its list of given tags, which FiftyOne's importer reads as `Classifications`
(an empty list: no tag); the sidecar has `given_tags`, `suggested_tags`, `reviewed_tags` (`|`-joined names) and
`true_tags`. Regression: no labels.json (FiftyOne has no import format for a value: `data/` imports as an
`ImageDirectory`), and the sidecar has `given_value`, `pred_value`, `suggested_value`, `suggested_low`,
`suggested_high`, `residual_value`, `reviewed_value` (NaN for a sample confirmed mislabeled) and `true_value`, for
`fo.Regression(value=...)` fields (docs/exports.md shows the recipe).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.export.files import new_directory
from core.export.images import png_bytes
from core.export.source import REVIEW, REVIEW_LABEL, SCORE, ExportSource, Written
from core.run import schema
from core.run.reviews import MISLABELED, RELABEL

SIDECAR = "gradsift_samples.csv"
UNLABELED = "_unlabeled"
"""The directory name FiftyOne's importer reads as "no label"."""


def check_class_names(class_names: list[str]) -> None:
    """ConfigError naming a class whose name cannot be a directory FiftyOne reads as that label."""
    for name in class_names:
        if (not name or name in (".", "..", UNLABELED) or name.startswith(".") or "/" in name or "\\" in name
                or "\0" in name):
            raise ConfigError(f"class name {name!r} cannot be a directory of a FiftyOne image tree "
                              "(empty, '/', a leading '.', or the importer's '_unlabeled'); use --format "
                              "label-studio or cleanlab for this run")


def file_name(sample_id: int) -> str:
    return f"{sample_id:06d}.png"


def sidecar_frame(source: ExportSource, rows: pd.DataFrame) -> pd.DataFrame:
    """The per-image fields FiftyOne cannot read from the tree (see the module docstring)."""
    names = np.asarray(source.class_names, dtype=object)
    given = rows[schema.GIVEN_LABEL].to_numpy(dtype=np.int64)
    review = rows[REVIEW].to_numpy()
    relabel = rows[REVIEW_LABEL].fillna(-1).to_numpy(dtype=np.int64)
    reviewed = np.where(review == RELABEL, names[np.maximum(relabel, 0)], names[given])
    reviewed = np.where(review == MISLABELED, "", reviewed)
    frame = pd.DataFrame({
        "filepath": [f"{names[g]}/{file_name(int(i))}" for g, i in zip(given, rows[schema.SAMPLE_ID])],
        schema.SAMPLE_ID: rows[schema.SAMPLE_ID].to_numpy(dtype=np.int64),
        schema.SOURCE: rows[schema.SOURCE].to_numpy(),
        "given_label": names[given],
        "suggested_label": names[rows[schema.SUGGESTED_LABEL].to_numpy(dtype=np.int64)],
        "score": rows[SCORE].to_numpy(),
        "is_flagged": rows[schema.IS_FLAGGED].to_numpy(dtype=bool),
        "review": review,
        "reviewed_label": reviewed,
    })
    if source.has_truth:
        truth = rows[schema.TRUE_LABEL]
        frame["true_label"] = [names[int(t)] if pd.notna(t) else "" for t in truth]
    return frame


DATA_DIR, LABELS_JSON = "data", "labels.json"


def kind_sidecar(source: ExportSource, rows: pd.DataFrame) -> pd.DataFrame:
    """The sidecar of a multilabel or regression run (module docstring); `filepath` under data/."""
    from core.export.source_kinds import tag_text

    review = rows[REVIEW].to_numpy()
    frame = pd.DataFrame({
        "filepath": [f"{DATA_DIR}/{file_name(int(i))}" for i in rows[schema.SAMPLE_ID]],
        schema.SAMPLE_ID: rows[schema.SAMPLE_ID].to_numpy(dtype=np.int64),
        schema.SOURCE: rows[schema.SOURCE].to_numpy(),
        "score": rows[SCORE].to_numpy(), "is_flagged": rows[schema.IS_FLAGGED].to_numpy(dtype=bool),
        "review": review,
    })
    names = source.class_names
    if source.task == "multilabel":
        given = list(rows[schema.GIVEN_TAGS])
        frame["given_tags"] = [tag_text(t, names) for t in given]
        frame["suggested_tags"] = [tag_text(t, names) for t in rows[schema.SUGGESTED_TAGS]]
        frame["reviewed_tags"] = ["" if r == MISLABELED else tag_text(n if r == RELABEL else g, names)
                                  for r, g, n in zip(review, given, rows[REVIEW_LABEL])]
        if source.has_truth:
            frame["true_tags"] = [tag_text(t, names) for t in rows[schema.TRUE_TAGS]]
        return frame
    for name in (schema.GIVEN_VALUE, schema.PRED_VALUE, schema.SUGGESTED_VALUE, schema.SUGGESTED_LOW,
                 schema.SUGGESTED_HIGH, schema.RESIDUAL_VALUE):
        frame[name] = rows[name].to_numpy()
    frame["reviewed_value"] = [np.nan if r == MISLABELED else float(n if r == RELABEL else g)
                               for r, g, n in zip(review, rows[schema.GIVEN_VALUE], rows[REVIEW_LABEL])]
    if source.has_truth:
        frame[schema.TRUE_VALUE] = rows[schema.TRUE_VALUE].to_numpy(dtype=np.float64, na_value=np.nan)
    return frame


def _export_kind(source: ExportSource, out: Path, rows: pd.DataFrame) -> Written:
    import json

    frame = kind_sidecar(source, rows)
    labels = {}
    if source.task == "multilabel":
        labels = {Path(path).stem: [{"label": source.class_names[int(t)]} for t in tags]
                  for path, tags in zip(frame["filepath"], rows[schema.GIVEN_TAGS])}
    thumbnails = source.thumbnails()
    with new_directory(out) as tmp:
        (tmp / DATA_DIR).mkdir()
        for relative, sample_id in zip(frame["filepath"], frame[schema.SAMPLE_ID]):
            (tmp / relative).write_bytes(png_bytes(thumbnails[int(sample_id)]))
        if source.task == "multilabel":
            (tmp / LABELS_JSON).write_text(json.dumps({"classes": source.class_names, "labels": labels}, indent=1))
        frame.to_csv(tmp / SIDECAR, index=False)
    return Written([out], len(frame), "images in a FiftyOne FiftyOneImageClassificationDataset")


def export(source: ExportSource, out: Path, only: str, image_root: Path | None = None) -> Written:
    """Write the tree and its sidecar into the new directory `out` (refused if it exists)."""
    if not source.is_image:
        raise ConfigError(f"{source.run.path} holds a tabular run; a FiftyOne image tree needs images "
                          "(use --format cleanlab or manifest)")
    if image_root is not None:
        raise ConfigError("--image-root applies to --format label-studio only")
    if source.task != "classification":
        return _export_kind(source, out, source.select(only).sort_values(schema.SAMPLE_ID).reset_index(drop=True))
    check_class_names(source.class_names)
    rows = source.select(only).sort_values(schema.SAMPLE_ID).reset_index(drop=True)
    thumbnails = source.thumbnails()
    frame = sidecar_frame(source, rows)
    with new_directory(out) as tmp:
        for relative, sample_id in zip(frame["filepath"], frame[schema.SAMPLE_ID]):
            target = tmp / relative
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(png_bytes(thumbnails[int(sample_id)]))
        frame.to_csv(tmp / SIDECAR, index=False)
    return Written([out], len(frame), "images in a FiftyOne ImageClassificationDirectoryTree")
