"""GLUE tasks from their local TSV files, as text manifests (the paper's Figure 3 data; nothing is downloaded).

`gradsift reproduce data-selection --data-dir DIR --task sst2|qnli|qqp|mrpc` reads, for task T,

    DIR/<GLUE folder of T>/train.tsv   (training)      and   DIR/<GLUE folder of T>/dev.tsv   (test)

or `DIR/train.tsv` and `DIR/dev.tsv` directly, where the GLUE folders are `SST-2`, `QNLI`, `QQP`
and `MRPC`: the layout of the official GLUE archives (https://gluebenchmark.com/tasks, or the
`download_glue_data.py` script of the GLUE baselines, which writes `glue_data/<folder>/`). The dev
split is the test split because GLUE's test labels are not public. Columns (tab-separated, with a
header row, no quoting):

- SST-2: `sentence`, `label` (0/1);
- QNLI: `question`, `sentence`, `label` (entailment / not_entailment);
- QQP: `question1`, `question2`, `is_duplicate` (0/1);
- MRPC: `#1 String`, `#2 String`, `Quality` (0/1).

A sentence pair becomes one text, `first [SEP] second` (the encoder's tokenizer reads `[SEP]` as its
separator token). Rows with a missing field or too few columns (QQP's train.tsv has a few) are
skipped and counted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from core.run.io import atomic_write

PAIR_SEPARATOR = " [SEP] "


@dataclass(frozen=True)
class GlueTask:
    folder: str
    text_columns: tuple[str, ...]
    label_column: str


GLUE_TASKS = {
    "sst2": GlueTask("SST-2", ("sentence",), "label"),
    "qnli": GlueTask("QNLI", ("question", "sentence"), "label"),
    "qqp": GlueTask("QQP", ("question1", "question2"), "is_duplicate"),
    "mrpc": GlueTask("MRPC", ("#1 String", "#2 String"), "Quality"),
}
WHERE_TO_GET = ("get the GLUE data from https://gluebenchmark.com/tasks (or the GLUE baselines' "
                "download_glue_data.py, which writes glue_data/<task>/)")


def task_of(name: str) -> GlueTask:
    if name not in GLUE_TASKS:
        raise DataError(f"--task {name!r}: not a GLUE task here; choose one of {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[name]


def glue_files(data_dir: str | Path, task: str) -> tuple[Path, Path]:
    """(train.tsv, dev.tsv) of `task` under `data_dir` (in its GLUE folder, or directly); a DataError naming
    the paths looked at and where to get the files when they are absent."""
    spec = task_of(task)
    root = Path(data_dir).expanduser()
    for folder in (root / spec.folder, root):
        train, dev = folder / "train.tsv", folder / "dev.tsv"
        if train.is_file() and dev.is_file():
            return train, dev
    raise DataError(f"{task}: expected {root / spec.folder / 'train.tsv'} and {root / spec.folder / 'dev.tsv'} "
                    f"(or train.tsv and dev.tsv directly in {root}); {WHERE_TO_GET}")


def read_glue_tsv(path: Path, task: str) -> tuple[list[str], list[str], int]:
    """(texts, label strings, rows skipped) of one GLUE TSV file."""
    spec = task_of(task)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header row with {', '.join(spec.text_columns)} "
                        f"and {spec.label_column}")
    header = rows[0]
    wanted = (*spec.text_columns, spec.label_column)
    missing = [column for column in wanted if column not in header]
    if missing:
        raise DataError(f"{path}: no column(s) {', '.join(map(repr, missing))} in the header; found "
                        f"{', '.join(header)}; is this the {spec.folder} file?")
    index = [header.index(column) for column in wanted]
    texts, labels, skipped = [], [], 0
    for row in rows[1:]:
        if len(row) < len(header) or any(not row[i].strip() for i in index):
            skipped += 1
            continue
        texts.append(PAIR_SEPARATOR.join(row[i].strip() for i in index[:-1]))
        labels.append(row[index[-1]].strip())
    if not texts:
        raise DataError(f"{path}: no complete rows")
    return texts, labels, skipped


def _subsample(n: int, limit: int | None, seed: int, stream: int) -> np.ndarray:
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, stream]).choice(n, size=limit, replace=False))


def write_glue_manifest(data_dir: str | Path, task: str, out: Path, *, max_train: int | None = None,
                        max_test: int | None = None, seed: int = 0) -> dict:
    """Write `task`'s train + dev rows as a text manifest CSV (columns text, label, split) at `out`;
    at most `max_train` / `max_test` rows (a seeded random subsample). Returns facts for the record."""
    train_path, dev_path = glue_files(data_dir, task)
    train_texts, train_labels, train_skipped = read_glue_tsv(train_path, task)
    dev_texts, dev_labels, dev_skipped = read_glue_tsv(dev_path, task)
    train_rows = _subsample(len(train_texts), max_train, seed, 21)
    dev_rows = _subsample(len(dev_texts), max_test, seed, 22)
    frame = pd.DataFrame({
        "text": [train_texts[i] for i in train_rows] + [dev_texts[i] for i in dev_rows],
        "label": [train_labels[i] for i in train_rows] + [dev_labels[i] for i in dev_rows],
        "split": ["train"] * len(train_rows) + ["test"] * len(dev_rows),
    })
    atomic_write(out, lambda handle: handle.write(frame.to_csv(index=False).encode()))
    return {"task": task, "train_file": str(train_path), "dev_file": str(dev_path),
            "n_train_file": len(train_texts), "n_dev_file": len(dev_texts), "n_train": int(len(train_rows)),
            "n_test": int(len(dev_rows)), "skipped_rows": train_skipped + dev_skipped}
