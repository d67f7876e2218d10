"""`gradsift import-reviews`: decisions made in another tool, merged into the run's review store.

Each `ReviewRow` (core.export.review_files) becomes a decision by the named reviewer:

- a chosen class equal to the sample's given label → `keep`; another class → `relabel` to it;
- a CSV `action` states the decision: `mislabeled` (a label, if any, must be the given one),
  `relabel` (needs a label other than the given one), `keep` (a label, if any, must be the given one).

A label is matched against the run's class names first, then read as a class index. Multi-label runs: the chosen
tags (several Label Studio choices, or a CSV label of `|`-joined names or indices) are a tag set, a keep when it is
the given set; regression runs: the number (a Label Studio Number, or a CSV label) is the value, a keep when it is
the given value. The
whole file is checked before anything is written: an unknown sample id, an unknown class, a
contradictory row, a sample listed twice, or a Label Studio task whose `given_label` is not the
run's (a file exported from another run) refuses the import with a line naming the file and
the task or line; so does a file whose tasks say (`data.split`) they come from another split than `--split`.
The decisions are appended through `ReviewStore.record` as votes of the named reviewer (who need not be a
registered user), one transaction per action (relabels: one per target class), so the store's history keeps every
earlier decision; each carries its source key (core.export.review_files), so importing the same file again adds
nothing (`ImportResult.already` counts what was there), while an annotation updated since comes in as the
reviewer's new vote.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, DataError
from core.export.registry import REVIEW_FORMATS
from core.export.review_files import ReviewRow, content_key
from core.export.source import ExportSource, load_source
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL

FORMATS = ("auto", *REVIEW_FORMATS.names())


@dataclass
class ImportResult:
    """Decisions written per action, rows without a decision (unannotated tasks), and the store's file."""

    counts: dict[str, int]
    skipped: int
    store: Path
    already: int = 0
    """Decisions of the file the store already held (imported before: same reviewer and source key)."""


def detect_format(path: Path, fmt: str) -> str:
    """The review format `fmt` names, or for "auto" the one whose suffix `path` has."""
    if fmt != "auto":
        return REVIEW_FORMATS.check(fmt, "--format", error=ConfigError)
    for name in REVIEW_FORMATS:
        if path.suffix.lower() in REVIEW_FORMATS.entry(name).meta["suffixes"]:
            return name
    raise ConfigError(f"{path}: cannot tell the format from the suffix {path.suffix or '(none)'}; "
                      f"pass --format {' or '.join(REVIEW_FORMATS.names())}")


def class_index(source: ExportSource, label: str, path: Path, row: ReviewRow) -> int:
    """The class `label` names (a class name, else an index), or a DataError naming the file and row."""
    names = source.class_names
    if label in names:
        return names.index(label)
    text = label.strip()
    if text.lstrip("+").isdigit() and int(text) < len(names):
        return int(text)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise DataError(f"{path}: {row.where}: unknown class {label!r} for sample {row.sample_id}; "
                    f"the run's classes are {shown} (or an index 0-{len(names) - 1})")


def _tag_set(source: ExportSource, row: ReviewRow, path: Path) -> tuple[int, ...] | None:
    names = row.labels if row.labels is not None else (
        None if row.label is None else tuple(p for p in row.label.split("|") if p.strip()))
    if names is None:
        return None
    return tuple(sorted({class_index(source, name, path, row) for name in names}))


def _value(row: ReviewRow, path: Path) -> float | None:
    if row.value is not None or row.label is None:
        return row.value
    try:
        value = float(row.label)
    except ValueError:
        raise DataError(f"{path}: {row.where}: label {row.label!r} of sample {row.sample_id} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"{path}: {row.where}: label {row.label!r} of sample {row.sample_id} is not a finite number")
    return value


def decide_kind(source: ExportSource, row: ReviewRow, path: Path) -> tuple[str, object] | None:
    """`decide` for multilabel (a tag tuple) and regression (a value) runs."""
    if row.labels is None and row.value is None and row.label is None and row.action is None:
        return None
    given = source.table[source.given_column].iat[row.sample_id]
    if source.task == "multilabel":
        label, given = _tag_set(source, row, path), tuple(given)
        shown = "|".join(source.class_names[t] for t in given)
    else:
        label, given = _value(row, path), float(given)
        shown = repr(given)
    if row.given is not None and row.given != shown:
        raise DataError(f"{path}: {row.where}: the file says sample {row.sample_id}'s given label is {row.given!r}, "
                        f"the run says {shown!r}; was the file exported from another run?")
    action = row.action or (KEEP if label == given else RELABEL)
    if action == RELABEL and (label is None or label == given):
        raise DataError(f"{path}: {row.where}: relabel of sample {row.sample_id} to "
                        f"{'no label' if label is None else 'its given label'}; use action keep")
    if action in (KEEP, MISLABELED) and label is not None and label != given:
        raise DataError(f"{path}: {row.where}: action {action} with a label that is not sample {row.sample_id}'s "
                        "given one; use action relabel")
    return action, (label if action == RELABEL else None)


def decide(source: ExportSource, row: ReviewRow, path: Path) -> tuple[str, int | None] | None:
    """(action, new label or None) for one row, None when the row holds no decision."""
    n = len(source.table)
    if not 0 <= row.sample_id < n:
        raise DataError(f"{path}: {row.where}: unknown sample id {row.sample_id}; the run's {source.split} "
                        f"split has sample ids 0-{n - 1}")
    if source.task != "classification":
        return decide_kind(source, row, path)
    if row.labels is not None and len(row.labels) != 1:
        raise DataError(f"{path}: {row.where}: expected exactly one chosen class in value.choices, "
                        f"found {list(row.labels)!r}")
    if row.value is not None:
        raise DataError(f"{path}: {row.where}: a number answers a regression run; this run classifies")
    given = int(source.table[schema.GIVEN_LABEL].iat[row.sample_id])
    if row.given is not None and row.given != source.class_names[given]:
        raise DataError(f"{path}: {row.where}: the file says sample {row.sample_id}'s given label is {row.given!r}, "
                        f"the run says {source.class_names[given]!r}; was the file exported from another run?")
    if row.label is None and row.action is None:
        return None
    label = None if row.label is None else class_index(source, row.label, path, row)
    action = row.action or (KEEP if label == given else RELABEL)
    if action == RELABEL and (label is None or label == given):
        what = "no label" if label is None else f"its given label {source.class_names[given]!r}"
        raise DataError(f"{path}: {row.where}: relabel of sample {row.sample_id} to {what}; "
                        "give another class, or use action keep")
    if action in (KEEP, MISLABELED) and label is not None and label != given:
        raise DataError(f"{path}: {row.where}: action {action} with label {row.label!r}, which is not sample "
                        f"{row.sample_id}'s given label {source.class_names[given]!r}; use action relabel")
    return action, (label if action == RELABEL else None)


def plan(source: ExportSource, rows: list[ReviewRow], path: Path
         ) -> tuple[dict[tuple[str, int | None], list[tuple[int, str]]], int]:
    """(sample id, source key) pairs per (action, new label), checked in full, and how many rows hold no decision."""
    seen: dict[int, str] = {}
    groups: dict[tuple[str, int | None], list[tuple[int, str]]] = defaultdict(list)
    skipped = 0
    for row in rows:
        if row.split is not None and row.split != source.split:
            raise DataError(f"{path}: {row.where}: the task is from the {row.split!r} split, not {source.split!r}; "
                            f"pass --split {row.split} to import it into that split's review store")
        if row.sample_id in seen:
            raise DataError(f"{path}: {row.where}: sample {row.sample_id} is listed again (first at "
                            f"{seen[row.sample_id]}); keep one decision per sample")
        seen[row.sample_id] = row.where
        decision = decide(source, row, path)
        if decision is None:
            skipped += 1
        else:
            key = row.source_key or content_key(path.suffix, row.sample_id, row.label, row.action)
            groups[decision].append((row.sample_id, key))
    return dict(groups), skipped


def import_reviews(run_path: str | os.PathLike, file: str | os.PathLike, reviewer: str, fmt: str = "auto",
                   split: str = "train") -> ImportResult:
    """Read `file`, check it against the run, and append its decisions by `reviewer` to the review store."""
    path = Path(file)
    if not reviewer or not reviewer.strip():
        raise ConfigError("--reviewer must name who made these decisions")
    name = detect_format(path, fmt)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    source = load_source(run_path, split)
    rows = REVIEW_FORMATS.get(name)(path)
    groups, skipped = plan(source, rows, path)
    store = source.store()
    counts: Counter[str] = Counter({KEEP: 0, RELABEL: 0, MISLABELED: 0})
    already = 0
    order = sorted(groups.items(), key=lambda item: (item[0][0], -1 if item[0][1] is None else item[0][1]))
    for (action, new_label), pairs in order:
        ids, keys = [p[0] for p in pairs], [p[1] for p in pairs]
        written = store.record(ids, action, reviewer, new_label=new_label, source_keys=keys)
        counts[action] += written
        already += len(ids) - written
    return ImportResult(dict(counts), skipped, store.path, already)
