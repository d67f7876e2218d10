"""A CSV or parquet manifest: one row per sample, the way users usually keep their labels.

Columns:
- the given, possibly noisy labels, one of (its kind is the task, docs/tasks.md):
  `label`: one class per row, strings or non-negative integers (classification);
  `labels`: a tag set per row, `|`-joined tag names or a parquet list column, an empty cell
  the empty set (multilabel; the tags are the sorted union of every row's);
  `target`: a number per row, integers included (regression).
  `--task` (`DataConfig.task`) overrides the inference where the values allow it: `regression`
  on a numeric `label`, `multilabel` on a `label` column of `|`-joined tags, `classification`
  on a `target` of class numbers; with several of these columns it picks one.
- `true_label` / `true_labels` / `true_target` (optional): the clean labels when known, beside
  the matching column (same classes or tags).
- `split` (optional): 'train' or 'test' per row; without it a test split is carved.
- `sample_id` (optional): must be unique; not used as a feature.
- `path` (optional): an image file per row, relative to the manifest's directory; images
  are read like an image folder's.
- `text` (optional): a text per row; the dataset is then a text dataset (core.data.text:
  the texts are embedded by the configured encoder, and kept to be shown).
  Without `path` or `text`, every other numeric column is a feature and the dataset is
  tabular (float32).

`source_train` is the `path` value, or `row N` with N the 0-based data row in the file.
A table with a list-valued `features` column holds a trained model's outputs instead
(core.data.outputs).
`encode_labels` turns raw label columns into class indices; the .npz loader shares it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR, Dataset
from core.data.base import TEXT as TEXT_KIND
from core.data.folder import read_images
from core.data.outputs import is_outputs_table, load_outputs_table
from core.data.split import carve_test_split, split_note
from core.data.task_labels import (
    CLASSIFICATION,
    MULTILABEL,
    REGRESSION,
    encode_tags,
    listing,
    parse_targets,
    resolve_task,
)
from core.data.text import check_texts, text_dataset
from core.errors import DataError

LABEL, TRUE_LABEL, SPLIT, SAMPLE_ID, PATH, TEXT = "label", "true_label", "split", "sample_id", "path", "text"
LABELS, TRUE_LABELS, TARGET, TRUE_TARGET = "labels", "true_labels", "target", "true_target"
TASK_COLUMNS = {CLASSIFICATION: (LABEL, TRUE_LABEL), MULTILABEL: (LABELS, TRUE_LABELS),
                REGRESSION: (TARGET, TRUE_TARGET)}
"""Per task kind, the column of given labels that implies it and the column of its truth."""
LABEL_COLUMNS = tuple(column for pair in TASK_COLUMNS.values() for column in pair)
OTHER_READINGS = {LABEL: (REGRESSION, MULTILABEL), LABELS: (), TARGET: (CLASSIFICATION,)}
"""The tasks `--task` may read a label column as besides its own (a numeric label as a target, a label
cell as a one-tag or `|`-joined tag set, a target of class numbers as classes)."""
RESERVED_COLUMNS = (*LABEL_COLUMNS, SPLIT, SAMPLE_ID, PATH, TEXT)
SPLIT_VALUES = ("train", "test")
def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, (str, bytes)):
        return not value.strip()
    return False


def _as_int(value: object) -> int | None:
    """The integer a label value stands for, or None when it is not an integral number."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def _as_objects(values: np.ndarray, where: str, column: str) -> np.ndarray:
    """1-D object array of python values; bytes decoded as UTF-8."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{where}: {column} must be one-dimensional, found shape {values.shape}")
    if values.dtype.kind == "S":
        try:
            return np.array([v.decode("utf-8") for v in values], dtype=object)
        except UnicodeDecodeError:
            raise DataError(f"{where}: {column} holds bytes that are not UTF-8 text") from None
    if values.dtype.kind not in "biufUO":
        raise DataError(f"{where}: {column} must hold integers or strings, found dtype {values.dtype}")
    return values.astype(object)


def encode_labels(columns: dict[str, np.ndarray], where: str,
                  unit: str = "row", units: str = "rows") -> tuple[dict[str, np.ndarray], list[str]]:
    """Map raw label columns to int64 class indices with one shared class list.

    `columns` maps a column name to its raw values (n_i,): non-negative integers (integral
    floats count) or strings. If every column is integral, class names are the sorted
    distinct integers as strings; otherwise every value is read as a string and the names are
    the sorted distinct strings. Missing values (None, NaN, empty strings), negative or
    fractional numbers raise DataError naming `where`, the column and the first offending
    positions (0-based), called `unit` / `units` in the message.
    """
    raw = {name: _as_objects(values, where, name) for name, values in columns.items()}
    for name, values in raw.items():
        missing = [i for i, v in enumerate(values) if _is_missing(v)]
        if missing:
            raise DataError(f"{where}: column {name!r} has {len(missing)} missing values, "
                            f"in {units} {listing(missing)}")
    as_ints = {name: [_as_int(v) for v in values] for name, values in raw.items()}
    all_numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                      for values in raw.values() for v in values)
    if all_numeric:
        for name, values in raw.items():
            bad = [i for i, v in enumerate(as_ints[name]) if v is None]
            if bad:
                raise DataError(f"{where}: column {name!r} holds non-integer numbers, e.g. "
                                f"{values[bad[0]]!r} in {unit} {bad[0]}; class labels must be integers or strings")
            negative = [i for i, v in enumerate(as_ints[name]) if v < 0]
            if negative:
                raise DataError(f"{where}: column {name!r} holds negative labels in {units} {listing(negative)}; "
                                "integer labels must be >= 0")
        keys = {name: as_ints[name] for name in raw}
        classes = sorted(set().union(*keys.values()))
    else:
        keys = {name: [str(v) if as_ints[name][i] is None else str(as_ints[name][i]) for i, v in enumerate(values)]
                for name, values in raw.items()}
        classes = sorted(set().union(*keys.values()))
    index = {key: i for i, key in enumerate(classes)}
    codes = {name: np.array([index[k] for k in values], dtype=np.int64) for name, values in keys.items()}
    return codes, [str(c) for c in classes]


_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_NUMBER_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _parse_text_labels(values: np.ndarray) -> np.ndarray:
    """CSV label cells (object: str or NaN for empty cells) -> ints or floats when every cell is a number.

    Read as text so that class names such as 'NA', 'None' or 'nan' stay names instead of
    becoming missing values, as pandas' default parsing would make them.
    """
    present = [v for v in values if isinstance(v, str) and v.strip()]
    if present and all(_INTEGER_TEXT.match(v.strip()) for v in present):
        return np.array([int(v) if isinstance(v, str) and v.strip() else v for v in values], dtype=object)
    if present and all(_NUMBER_TEXT.match(v.strip()) for v in present):
        return np.array([float(v) if isinstance(v, str) and v.strip() else v for v in values], dtype=object)
    return values


def _read_table(path: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The manifest table and its raw label columns (those of `LABEL_COLUMNS` present) as object arrays; a CSV's
    as the texts written (an empty cell ''), parsed by the task that reads them."""
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
            columns = [c for c in LABEL_COLUMNS if c in table.columns]
            text = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
            labels = {c: text[c].to_numpy(dtype=object) for c in columns}
            if TEXT in table.columns:  # as written: 'NA' or '42' is a text, an empty cell an empty text
                table[TEXT] = pd.read_csv(path, usecols=[TEXT], dtype=str, keep_default_na=False)[TEXT]
        else:
            table = pd.read_parquet(path)
            labels = {c: table[c].to_numpy(dtype=object) for c in LABEL_COLUMNS if c in table.columns}
    except Exception as exc:  # pandas/pyarrow raise many unrelated types for a malformed file
        raise DataError(f"{path}: cannot read the manifest ({type(exc).__name__}: {exc})") from None
    return table, labels


def _check_columns(table: pd.DataFrame, path: Path) -> None:
    if not any(TASK_COLUMNS[task][0] in table.columns for task in TASK_COLUMNS):
        found = ", ".join(map(str, table.columns)) or "none"
        raise DataError(f"{path}: no {LABEL!r} column (or {LABELS!r} for tag sets, {TARGET!r} for numbers); "
                        f"found columns: {found}")
    if table.columns.duplicated().any():
        dupes = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
        raise DataError(f"{path}: duplicate column names: {', '.join(dupes)}")
    if len(table) == 0:
        raise DataError(f"{path}: the manifest has no rows")
    if SAMPLE_ID in table.columns:
        ids = table[SAMPLE_ID]
        dupes = ids[ids.duplicated(keep=False)]
        if len(dupes):
            raise DataError(f"{path}: column {SAMPLE_ID!r} has duplicate values: "
                            f"{listing(sorted({str(v) for v in dupes}))}")


def _split_mask(table: pd.DataFrame, path: Path) -> np.ndarray | None:
    """(n,) bool, True for test rows, from the `split` column; None when there is no such column."""
    if SPLIT not in table.columns:
        return None
    values = [str(v).strip().lower() if not _is_missing(v) else "" for v in table[SPLIT].to_numpy(dtype=object)]
    bad = [i for i, v in enumerate(values) if v not in SPLIT_VALUES]
    if bad:
        raise DataError(f"{path}: column {SPLIT!r} must be 'train' or 'test'; rows {listing(bad)} hold "
                        f"{listing([repr(table[SPLIT].iloc[i]) for i in bad], 3)}")
    is_test = np.asarray(values) == "test"
    if is_test.all():
        raise DataError(f"{path}: column {SPLIT!r} marks every row 'test'; at least some rows must be 'train'")
    return is_test


def feature_columns(table: pd.DataFrame) -> list:
    """The columns a tabular manifest's features come from: every numeric non-reserved column, in order
    (exports name their feature columns after them, so a re-read manifest keeps the user's names)."""
    return [c for c in table.columns if c not in RESERVED_COLUMNS
            and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_complex_dtype(table[c])]


def read_feature_columns(path: Path) -> list[str]:
    """`feature_columns` of the manifest file at `path` (read as `load_manifest` reads it)."""
    table, _ = _read_table(Path(path))
    return [str(c) for c in feature_columns(table)]


def _features(table: pd.DataFrame, path: Path) -> tuple[np.ndarray, list[str]]:
    """Tabular inputs float32 (n, d) from every numeric non-reserved column, and notes."""
    others = [c for c in table.columns if c not in RESERVED_COLUMNS]
    numeric = feature_columns(table)
    ignored = [str(c) for c in others if c not in numeric]
    if not numeric:
        raise DataError(f"{path}: no numeric feature columns and no {PATH!r} column; "
                        f"found columns: {', '.join(map(str, table.columns))}")
    features = table[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(features)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        rows = np.flatnonzero(bad[:, col]).tolist()
        raise DataError(f"{path}: feature column {str(numeric[col])!r} holds NaN or infinite values "
                        f"in rows {listing(rows)} (first at row {row})")
    too_large = np.abs(features) > np.finfo(np.float32).max
    if too_large.any():
        row, col = np.argwhere(too_large)[0]
        raise DataError(f"{path}: feature column {str(numeric[col])!r} overflows float32 in row {row}")
    features32 = features.astype(np.float32)
    notes = [f"used {len(numeric)} numeric feature columns: {listing([str(c) for c in numeric], 8)}"]
    if ignored:
        notes.append(f"ignored {len(ignored)} non-numeric columns: {listing(ignored, 8)}")
    return features32, notes


def referenced_files(path: Path) -> list[Path]:
    """The resolved files a manifest's `path` column names (empty for a tabular manifest), without
    reading them: for callers that must check where a manifest reaches before loading it (the
    dashboard's launcher refuses files outside its allowed roots; the CLI reads what the user named)."""
    path = Path(path)
    table, _ = _read_table(path)
    if PATH not in table.columns:
        return []
    return [(path.parent / str(value)).resolve() for value in table[PATH].to_numpy(dtype=object)
            if not _is_missing(value)]


def _images(table: pd.DataFrame, path: Path, image_size: int | None) -> tuple[np.ndarray, list[str], list[str]]:
    """Images uint8 (n, C, H, W) from the `path` column, the path values, and notes."""
    values = table[PATH].to_numpy(dtype=object)
    missing = [i for i, v in enumerate(values) if _is_missing(v)]
    if missing:
        raise DataError(f"{path}: column {PATH!r} is empty in rows {listing(missing)}")
    shown = [str(v) for v in values]
    files = [path.parent / v for v in shown]
    absent = [v for v, f in zip(shown, files) if not f.is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} image paths do not exist (relative to {path.parent}): "
                        f"{listing(absent)}")
    images, notes = read_images(files, shown, image_size)
    return images, shown, notes


def _label_column(raw: dict[str, np.ndarray], path: Path, requested: str | None) -> tuple[str, str, list[str]]:
    """(task, the column of given labels, notes): the column present (or the one `--task` picks among several),
    read as its own task or, with `--task`, as another it allows (OTHER_READINGS)."""
    present = [TASK_COLUMNS[task][0] for task in TASK_COLUMNS if TASK_COLUMNS[task][0] in raw]
    if requested is not None and TASK_COLUMNS[requested][0] in raw:
        column = TASK_COLUMNS[requested][0]
    elif len(present) > 1:
        lacking = f"; --task {requested} reads {TASK_COLUMNS[requested][0]!r}, which it lacks" if requested else \
            "; pick one with --task"
        raise DataError(f"{path}: has the label columns {', '.join(map(repr, present))}; a manifest has one (label: a "
                        f"class, labels: tags, target: a number){lacking}")
    else:
        column = present[0]
    inferred = next(task for task, (given, _) in TASK_COLUMNS.items() if given == column)
    task = resolve_task(inferred, requested, str(path), f"a {column!r} column", OTHER_READINGS[column])
    for given, truth in TASK_COLUMNS.values():
        if truth in raw and given not in raw:
            raise DataError(f"{path}: has a {truth!r} column but no {given!r} column for it to be the truth of")
    others = [c for c in raw if c not in (column, TASK_COLUMNS[inferred][1])]
    notes = [f"ignored column(s) {', '.join(others)}: --task {task} reads {column!r}"] if others else []
    return task, column, notes


def encode_task_labels(raw: dict[str, np.ndarray], path: Path, requested: str | None,
                       from_csv: bool) -> tuple[str, np.ndarray, np.ndarray | None, list[str], list[str]]:
    """(task, given labels, true labels or None, class names, notes) of a manifest's raw label columns:
    (n,) int64 classes, (n, C) uint8 tags or (n,) float64 targets (core.data.base.Dataset's forms)."""
    task, column, notes = _label_column(raw, path, requested)
    truth = next(t for g, t in TASK_COLUMNS.values() if g == column)
    columns = {c: raw[c] for c in (column, truth) if c in raw}
    if task == MULTILABEL:
        codes, names = encode_tags(columns, str(path))
    elif task == REGRESSION:
        codes, names = {c: parse_targets(values, str(path), c) for c, values in columns.items()}, [column]
    else:
        codes, names = encode_labels({c: _parse_text_labels(v) if from_csv else v for c, v in columns.items()},
                                     str(path))
    if column != TASK_COLUMNS[task][0]:
        notes.append(f"read column {column!r} as {task} labels (--task {task})")
    return task, codes[column], codes.get(truth), names, notes


def load_manifest(path: Path, cfg: DataConfig, seed: int) -> Dataset:
    """Dataset from a .csv or .parquet manifest (see the module docstring for the columns)."""
    path = Path(path)
    table, label_columns = _read_table(path)
    if is_outputs_table(list(table.columns)):
        return load_outputs_table(path, table, cfg, seed)
    _check_columns(table, path)
    task, given, truth, class_names, label_notes = encode_task_labels(label_columns, path, cfg.task,
                                                                      path.suffix.lower() == ".csv")
    is_test = _split_mask(table, path)
    if TEXT in table.columns:
        if PATH in table.columns:
            raise DataError(f"{path}: has both a {PATH!r} and a {TEXT!r} column; keep one (images or texts)")
        texts = check_texts(table[TEXT].to_numpy(dtype=object).tolist(), str(path), TEXT)
        inputs, sources, kind = None, [f"row {i}" for i in range(len(table))], TEXT_KIND
        ignored = [str(c) for c in table.columns if c not in RESERVED_COLUMNS]
        notes = [f"read {len(texts)} texts from column {TEXT!r}"] + (
            [f"ignored {len(ignored)} other columns: {listing(ignored, 8)}"] if ignored else [])
    elif PATH in table.columns:
        inputs, sources, notes = _images(table, path, cfg.image_size)
        kind = IMAGE
    else:
        inputs, notes = _features(table, path)
        sources, kind = [f"row {i}" for i in range(len(table))], TABULAR
    notes = label_notes + notes
    if is_test is None or not is_test.any():
        if is_test is not None:
            notes.append(f"column {SPLIT!r} marks no test rows")
        train_idx, test_idx = carve_test_split(len(given), given, cfg.test_fraction, seed)
        notes.append(split_note(given, cfg.test_fraction, seed))
    else:
        train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        notes.append(f"used column {SPLIT!r}: {len(train_idx)} train / {len(test_idx)} test rows")
    clean = truth if truth is not None else given
    if kind == TEXT_KIND:
        return text_dataset(path.name, cfg, texts_train=[texts[i] for i in train_idx], given_train=given[train_idx],
                            texts_test=[texts[i] for i in test_idx], y_test=clean[test_idx], class_names=class_names,
                            true_train=None if truth is None else truth[train_idx],
                            source_train=[sources[i] for i in train_idx], notes=notes,
                            test_labels_verified=truth is not None,
                            test_split_carved=is_test is None or not is_test.any(), task=task)
    return Dataset(
        name=path.name,
        kind=kind,
        x_train=inputs[train_idx],
        given_train=given[train_idx],
        true_train=None if truth is None else truth[train_idx],
        x_test=inputs[test_idx],
        y_test=clean[test_idx],
        class_names=class_names,
        source_train=[sources[i] for i in train_idx],
        notes=notes,
        test_labels_verified=truth is not None,
        test_split_carved=is_test is None or not is_test.any(),
        task=task,
    )
