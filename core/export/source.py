"""What every export reads from a run, gathered once: one row per sample in one frame.

`load_source(run_path, split)` returns an `ExportSource`: the class names, the dataset's
kind, the primary detector, and `table`, a frame with one row per sample of the split:

- `sample_id`, `source`, `given_label` (class index), `suggested_label` (the samples
  table's optional `suggested_label` where a stage filled it, else `pred_label`; with its
  `suggested_label_confidence` column when present), `score` (higher =
  more outlying), `is_flagged`, `true_label` (Int64, NA when unknown), `review` (the current
  decision: the consensus of the sample's votes, '' when unreviewed or while its reviewers disagree) and
  `review_label` (the relabel target, NA otherwise).

Multi-label and regression runs (`task`) hold their own label columns instead of `given_label`,
`suggested_label` and `true_label` (core.export.source_kinds), and `review_label` holds a tag tuple or a value.

The training split reads samples.parquet: `score` is the primary detector's score and
`is_flagged` its flags at the run's budget. The test split (whose labels people can check
too, into the test review store) has no detector scores: there `score` is 1 − the analyzed
model's probability of the test label and `is_flagged` marks the test samples the model
predicts otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.data.base import IMAGE
from core.errors import ConfigError, RunDirError
from core.export.source_kinds import identity_table, kind_table
from core.run import schema
from core.run.reviews import MISLABELED, NEW_LABEL, RELABEL, ReviewStore, decision_per_sample
from core.run.rundir import RunDir

SPLITS = ("train", "test")
SCORE, REVIEW, REVIEW_LABEL = "score", "review", "review_label"
"""Columns of `ExportSource.table` besides the samples table's own names."""


@dataclass
class ExportSource:
    """One split of a run, as the exports need it (see the module docstring for `table`)."""

    run: RunDir
    manifest: dict
    config: RunConfig
    split: str
    class_names: list[str]
    kind: str
    """IMAGE, TABULAR or TEXT (core.data.base)."""
    primary: str
    table: pd.DataFrame
    samples: pd.DataFrame | None
    """samples.parquet as stored (training split only)."""
    decisions: pd.DataFrame | None = None
    """The split's current review decisions (ReviewStore.decisions())."""
    task: str = "classification"
    """The run's task kind (core.tasks): classification, multilabel or regression."""

    @property
    def truth_column(self) -> str:
        return {"multilabel": schema.TRUE_TAGS, "regression": schema.TRUE_VALUE}.get(self.task, schema.TRUE_LABEL)

    @property
    def given_column(self) -> str:
        return {"multilabel": schema.GIVEN_TAGS, "regression": schema.GIVEN_VALUE}.get(self.task, schema.GIVEN_LABEL)

    @property
    def has_truth(self) -> bool:
        return bool(self.table[self.truth_column].notna().any())

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE

    def texts(self) -> list[str] | None:
        """The split's texts (row = sample id) for a text run, else None."""
        if self.split == "train":
            if self.samples is None or schema.TEXT not in self.samples.columns:
                return None
            return self.samples[schema.TEXT].astype(str).tolist()
        if not self.run.file(schema.TEST_TEXTS).exists():
            return None
        return self.run.read_parquet(schema.TEST_TEXTS)[schema.TEXT].astype(str).tolist()

    def store(self) -> ReviewStore:
        """The split's review store, checking sample ids and class (or tag) indices."""
        given = self.table[self.given_column]
        given = given.tolist() if self.task == "multilabel" else given.to_numpy(
            np.float64 if self.task == "regression" else np.int64)
        return ReviewStore(self.run.path, n_samples=len(self.table), n_classes=len(self.class_names),
                           split=self.split, given_labels=given,
                           task={**(self.manifest.get("task") or {}), "name": self.task})

    def thumbnails(self) -> np.ndarray:
        """uint8 (n, H, W, C) images of the split, memory-mapped; row = sample_id (image runs only)."""
        if not self.is_image:
            raise ConfigError(f"{self.run.path} holds a tabular run: it has no images")
        return self.run.read_npy(schema.THUMBNAILS if self.split == "train" else schema.TEST_THUMBNAILS, mmap=True)

    def dataset_path(self) -> Path | None:
        """The run's dataset when it is a path (an image folder or a manifest), else None (a registered name)."""
        path = Path(self.config.data.dataset).expanduser()
        return path if path.exists() else None

    def sample_files(self, ids: np.ndarray) -> list[Path] | None:
        """Absolute paths of the samples' files when the run's dataset is an image folder or a manifest
        with a path column (sources relative to its directory), else None."""
        sources = self.table[schema.SOURCE].to_numpy()[ids]
        base = files_base(self.config.data.dataset, sources) if self.split == "train" else None
        return None if base is None else [base / str(s) for s in sources]

    def name(self, index: object) -> str:
        return self.class_names[int(index)]

    def select(self, only: str) -> pd.DataFrame:
        """The rows `--only` names, most outlying first (the primary detector's ranking)."""
        from core.detect.flagging import ranking

        check_only(only)
        ordered = self.table.iloc[ranking(self.table[SCORE].to_numpy())]
        chosen = ordered[ordered[schema.IS_FLAGGED].to_numpy(dtype=bool)] if only == "flagged" else ordered
        return chosen.reset_index(drop=True)


def files_base(dataset: str, sources: Iterable[object]) -> Path | None:
    """The directory the training samples' `source`s are relative to when the samples are files (the dataset
    is an image folder, or a manifest with a path column), else None (a registered dataset, an .npz, rows, a
    saved Hugging Face dataset, whose images live inside its arrow files)."""
    from core.data.hf import is_saved_dataset

    root = Path(dataset).expanduser()
    if not root.exists() or is_saved_dataset(root) or any(str(s).startswith("row ") for s in sources):
        return None
    return root.resolve() if root.is_dir() else root.resolve().parent


ONLY = ("flagged", "all")


def check_only(only: str) -> str:
    if only not in ONLY:
        raise ConfigError(f"--only must be one of {', '.join(ONLY)}; got {only!r}")
    return only


@dataclass
class Written:
    """What an export wrote: its files or directories, how many samples, and what they are (for the report)."""

    paths: list[Path]
    count: int
    what: str


def export_run(run_path: str | os.PathLike, fmt: str, out: str | os.PathLike, split: str = "train",
               only: str | None = None, image_root: str | os.PathLike | None = None) -> Written:
    """`gradsift export`: the run's `split` written in format `fmt` (core.export.registry) to `out`;
    `only` defaults to the format's own choice (flagged for a review tool, all otherwise)."""
    from core.export.registry import EXPORT_FORMATS

    EXPORT_FORMATS.check(fmt, "--format")
    chosen = check_only(only or EXPORT_FORMATS.entry(fmt).meta["only"])
    source = load_source(run_path, split)
    return EXPORT_FORMATS.get(fmt)(source, Path(out), chosen, None if image_root is None else Path(image_root))


def load_source(run_path: str | os.PathLike, split: str = "train") -> ExportSource:
    """The run's `split` ("train" or "test") as an ExportSource; RunDirError when the run is incomplete."""
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")
    run = RunDir(run_path)
    manifest = run.read_manifest()
    config = run.config()
    dataset = manifest.get("dataset") or {}
    if "class_names" not in dataset:
        raise RunDirError(f"{run.file(schema.MANIFEST)} has no dataset facts; finish the run with `gradsift analyze`")
    names = [str(n) for n in dataset["class_names"]]
    task = (manifest.get("task") or {}).get("name", "classification")
    if task != "classification" and split != "train":
        raise ConfigError(f"--split test exports classification runs only; {run.path} is a {task} run")
    samples = run.read_samples() if split == "train" else None
    primary = run.flagging().detector
    if task != "classification":
        table = kind_table(samples, primary, run, task)
    else:
        table = _train_table(samples, primary, run, names) if split == "train" else _test_table(run)
    source = ExportSource(run=run, manifest=manifest, config=config, split=split, class_names=names,
                          kind=dataset.get("kind", IMAGE), primary=primary, table=table,
                          samples=samples, task=task)
    _attach_reviews(source)
    return source


def _suggested(samples: pd.DataFrame, class_names: list[str], run: RunDir) -> pd.Series:
    """Class indices of the suggested label: the suggest stage's `suggested_label` column (indices; class names
    in a table edited by hand), the prediction where it is missing or absent."""
    if schema.SUGGESTED_LABEL not in samples.columns or samples[schema.SUGGESTED_LABEL].isna().all():
        return samples[schema.PRED_LABEL]
    suggested = samples[schema.SUGGESTED_LABEL]
    if not pd.api.types.is_numeric_dtype(suggested):
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted({str(v) for v in suggested.dropna() if str(v) not in index})
        if unknown:
            raise RunDirError(f"{run.file(schema.SAMPLES)}: {schema.SUGGESTED_LABEL} holds unknown classes "
                              f"{', '.join(unknown[:5])}")
        suggested = suggested.map(lambda v: index[str(v)] if pd.notna(v) else np.nan)
    return suggested.fillna(samples[schema.PRED_LABEL])


def _train_table(samples: pd.DataFrame, primary: str, run: RunDir, class_names: list[str]) -> pd.DataFrame:
    table, column = identity_table(samples, primary, run)
    table[schema.GIVEN_LABEL] = samples[schema.GIVEN_LABEL].to_numpy(dtype=np.int64)
    table[schema.SUGGESTED_LABEL] = _suggested(samples, class_names, run).to_numpy(dtype=np.int64)
    table[SCORE] = samples[column].to_numpy(dtype=np.float64)
    table[schema.IS_FLAGGED] = samples[schema.IS_FLAGGED].to_numpy(dtype=bool)
    table[schema.TRUE_LABEL] = pd.array(samples[schema.TRUE_LABEL], dtype="Int64")
    if schema.SUGGESTED_LABEL_CONFIDENCE in samples.columns:
        table[schema.SUGGESTED_LABEL_CONFIDENCE] = samples[schema.SUGGESTED_LABEL_CONFIDENCE].to_numpy(dtype=np.float64)
    return table


def _test_table(run: RunDir) -> pd.DataFrame:
    labels = run.test_labels()
    probs = run.read_npz(schema.ERM_OUTPUTS)["test_probs"]
    rows = np.arange(len(labels))
    predicted = probs.argmax(axis=1).astype(np.int64)
    return pd.DataFrame({
        schema.SAMPLE_ID: rows.astype(np.int64),
        schema.SOURCE: [f"test {i}" for i in rows],
        schema.GIVEN_LABEL: labels,
        schema.SUGGESTED_LABEL: predicted,
        SCORE: 1.0 - probs[rows, labels].astype(np.float64),
        schema.IS_FLAGGED: predicted != labels,
        schema.TRUE_LABEL: pd.array([pd.NA] * len(rows), dtype="Int64"),
    })


def reviewed_labels(source: ExportSource) -> tuple[np.ndarray, list]:
    """(kept row positions, each kept sample's label after the reviews): confirmed-mislabeled samples removed,
    relabels applied (a tag tuple or a value), kept and unreviewed samples as given."""
    table = source.table
    review = table[REVIEW].to_numpy()
    given = table[source.given_column].tolist()
    new = table[REVIEW_LABEL].tolist()
    labels = [n if r == RELABEL else g for r, g, n in zip(review, given, new)]
    kept = np.flatnonzero(review != MISLABELED)
    return kept, [labels[i] for i in kept]


def _attach_reviews(source: ExportSource) -> None:
    decisions = source.store().decisions()
    table = source.table
    table[REVIEW] = decision_per_sample(decisions, len(table))
    if source.task != "classification":
        review_label = np.full(len(table), None, dtype=object)
        for sample_id, label in zip(decisions[schema.SAMPLE_ID], decisions[NEW_LABEL]):
            review_label[int(sample_id)] = label
        table[REVIEW_LABEL] = review_label
        source.decisions = decisions
        return
    review_label = pd.array([pd.NA] * len(table), dtype="Int64")
    if len(decisions):
        review_label[decisions[schema.SAMPLE_ID].to_numpy()] = decisions[NEW_LABEL].to_numpy()
    table[REVIEW_LABEL] = review_label
    source.decisions = decisions
