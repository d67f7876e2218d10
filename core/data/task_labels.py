"""Raw label values → the label forms of the three task kinds, and which task an input asks for.

Every path source (manifests, .npz, model outputs, Hugging Face datasets) reads its labels through
these, so a tag set or a target is parsed, and refused, the same way everywhere:

- tag sets (multilabel): a cell is `|`-joined tag names (`"dog|car"`; an empty cell or an empty list
  is the empty tag set: no tag applies), or a list of names; `encode_tags` turns the columns into
  (n, C) uint8 indicators over one shared, sorted tag list (numerically sorted when every tag is an
  integer). An empty name inside a join (`"dog||car"`, `"dog|"`) or a missing cell is refused.
- targets (regression): numbers, or texts that are numbers; `parse_targets` returns (n,) float64 and
  refuses missing, non-numeric, NaN and infinite values.

Errors are one line naming `where` (the file), the column and the first offending rows (0-based).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import DataError

CLASSIFICATION, MULTILABEL, REGRESSION = "classification", "multilabel", "regression"
TAG_SEPARATOR = "|"
MAX_LISTED = 5


def listing(items: Sequence, limit: int = MAX_LISTED) -> str:
    """The first `limit` items, comma-separated, and how many more: the rows or values a one-line error names."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _tag_name(value: object) -> str | None:
    """One tag's name; integral numbers as their integer text; None when empty or missing."""
    if _is_missing(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    name = str(value).strip()
    return name or None


def tag_lists(values: Sequence, where: str, column: str, unit: str = "row") -> list[list[str]]:
    """Each cell's tag names (duplicates dropped, order kept): `|`-joined text or a list of names.

    An empty text or empty list is the empty tag set; a missing cell (None, NaN) or an empty name
    inside a join or a list raises DataError naming the column and the row.
    """
    out: list[list[str]] = []
    for row, value in enumerate(values):
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            names = [] if not value.strip() else [part.strip() for part in value.split(TAG_SEPARATOR)]
        elif isinstance(value, (list, tuple, np.ndarray)):
            names = [_tag_name(item) for item in value]
        elif _is_missing(value):
            raise DataError(f"{where}: column {column!r} is missing in {unit} {row}; an empty tag set is written as "
                            "an empty cell or an empty list")
        else:
            names = [_tag_name(value)]
        if any(not name for name in names):
            raise DataError(f"{where}: column {column!r} {unit} {row} holds an empty tag name in {value!r}; tags are "
                            f"non-empty names joined by {TAG_SEPARATOR!r}")
        out.append(list(dict.fromkeys(names)))
    return out


def _sorted_tags(names: set[str]) -> list[str]:
    """Integer tags in numeric order (2 before 10), any other tags in text order."""
    if names and all(name.lstrip("+-").isdigit() for name in names):
        return sorted(names, key=lambda name: (int(name), name))
    return sorted(names)


def encode_tags(columns: dict[str, Sequence], where: str, unit: str = "row",
                tag_names: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """{column: (n_i, C) uint8 indicators} over one tag list, and that list.

    Without `tag_names`, the tags are the sorted union of every column's tags; with it, a tag it
    does not hold is refused naming the column and the row.
    """
    lists = {name: tag_lists(values, where, name, unit) for name, values in columns.items()}
    if tag_names is None:
        names = _sorted_tags({tag for cells in lists.values() for cell in cells for tag in cell})
    else:
        names = [str(name) for name in tag_names]
        known = set(names)
        for column, cells in lists.items():
            bad = [row for row, cell in enumerate(cells) if not set(cell) <= known]
            if bad:
                unknown = sorted(set(cells[bad[0]]) - known)
                raise DataError(f"{where}: column {column!r} {unit} {bad[0]} holds tag(s) {', '.join(unknown)} that "
                                f"the tag list ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}) does not "
                                f"hold ({len(bad)} {unit}s in all)")
    if not names:
        raise DataError(f"{where}: no {unit} holds any tag; a multi-label dataset needs at least one tag name")
    index = {name: i for i, name in enumerate(names)}
    codes = {}
    for column, cells in lists.items():
        indicators = np.zeros((len(cells), len(names)), dtype=np.uint8)
        for row, cell in enumerate(cells):
            indicators[row, [index[tag] for tag in cell]] = 1
        codes[column] = indicators
    return codes, names


def indicator_matrix(values: np.ndarray, where: str) -> np.ndarray:
    """(n, C) uint8 tag indicators from an array of 0/1 (bool, integers or floats), else DataError."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] == 0:
        raise DataError(f"{where} must be a (n, C) array of 0/1 tag indicators, got shape {values.shape}")
    if values.dtype.kind not in "biuf":
        raise DataError(f"{where} must hold 0/1 tag indicators, found dtype {values.dtype}")
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{where} must hold only 0 and 1 (tag absent / present); row {row} column {col} holds "
                        f"{values[row, col].item()!r}")
    return values.astype(np.uint8)


def _target(value: object) -> float | str:
    """The number a target cell holds, or why it is not one ("missing", "non-numeric", "not finite")."""
    if isinstance(value, (bool, np.bool_)):
        return "non-numeric"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return "missing"
        try:
            number = float(text)
        except ValueError:
            return "non-numeric"
    elif isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    elif _is_missing(value):
        return "missing"
    else:
        return "non-numeric"
    return number if np.isfinite(number) else "not finite"


def parse_targets(values: Sequence, where: str, column: str, unit: str = "row") -> np.ndarray:
    """(n,) float64 targets from numbers or numeric texts; DataError naming the column and rows otherwise."""
    parsed = [_target(value) for value in values]
    for problem, what in (("missing", "missing values"), ("non-numeric", "non-numeric values"),
                          ("not finite", "NaN or infinite values")):
        rows = [row for row, value in enumerate(parsed) if isinstance(value, str) and value == problem]
        if rows:
            shown = values[rows[0]].item() if isinstance(values[rows[0]], np.generic) else values[rows[0]]
            example = "" if problem == "missing" else f", e.g. {shown!r} in {unit} {rows[0]}"
            raise DataError(f"{where}: target column {column!r} holds {len(rows)} {what} in {unit}s "
                            f"{listing(rows)}{example}; a regression target must be a finite number")
    return np.asarray(parsed, dtype=np.float64)


def resolve_task(inferred: str, requested: str | None, where: str, what: str,
                 allowed: Sequence[str] = ()) -> str:
    """The task to load as: `requested` (--task) when it is `inferred` or one of the `allowed` readings of the
    input, else DataError saying why (`what`: the input that implied `inferred`, e.g. "a 'labels' column")."""
    if requested is None or requested == inferred:
        return inferred
    if requested in allowed:
        return requested
    also = f" or {' or '.join(allowed)}" if allowed else ""
    raise DataError(f"{where}: --task {requested} does not fit {what}, which makes a {inferred}{also} dataset")


def finite_array(values: np.ndarray, where: str) -> np.ndarray:
    """`values` as an array, or a DataError naming `where` when it is not numeric or holds NaN or infinite rows."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        raise DataError(f"{where} must be numeric, got dtype {values.dtype}")
    flat = values.reshape(len(values), -1)
    bad = np.concatenate([~np.isfinite(flat[start:start + 65_536]).all(axis=1)
                          for start in range(0, len(flat), 65_536)] or [np.zeros(0, bool)])
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{where} holds NaN or infinite values in {len(rows)} rows, first at row {rows[0]}")
    return values
