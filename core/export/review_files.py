"""Review files other tools write, read into one shape: `ReviewRow`s (what a person said about a sample).

- A Label Studio JSON export of annotated tasks: a list of tasks, each with `data.sample_id`
  (as `gradsift export --format label-studio` wrote it) and `annotations[].result[]` entries
  whose `value.choices` hold the chosen class. The latest annotation that was not cancelled
  counts (by `updated_at`, else `created_at`, else its position); tasks nobody annotated are
  skipped. The JSON-MIN export (one flat object per annotation: `sample_id`, `label`) is read too; when it holds
  several annotations of one task (several annotators), the latest counts there as well (by `updated_at`, else
  `created_at`, else its position), as Label Studio's docs say.
- A CSV of corrections: `sample_id`, and `label` (a class name or index) and/or `action`
  (mislabeled, relabel or keep).

Multi-label and regression runs: a Label Studio result's `value.choices` may hold several tags (`choice="multiple"`),
kept whole in `ReviewRow.labels`; a `Number` result (`value.number`, control "value") is `ReviewRow.value`. In a CSV,
`label` is the tag set as `|`-joined names (or indices), or the value.

Each row carries a `source_key` naming the annotation it came from (Label Studio: task id, annotation id and its
last update; a CSV line: a hash of its content), so importing the same file twice adds nothing, and the split the
file says its samples belong to (`data.split` of gradsift's tasks), which the import checks.

Reading checks the file's shape only; `core.export.import_reviews` checks ids and classes
against the run. Errors name the file and the task or line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import DataError
from core.run.reviews import KEEP, MISLABELED, RELABEL

CSV_ACTIONS = (MISLABELED, RELABEL, KEEP)
CONTROL = "label"
"""The Choices control name gradsift's labeling config uses (others are accepted when it is the only one)."""
VALUE_CONTROL = "value"
"""The Number control of a regression run's labeling config."""


@dataclass(frozen=True)
class ReviewRow:
    """One sample's review in a file: the chosen class as written (or None), the stated action (or None),
    the given label the file believed the sample had (or None), and where it was (for error messages)."""

    sample_id: int
    label: str | None
    action: str | None
    where: str
    given: str | None = None
    source_key: str | None = None
    """Names the annotation (or line) the row came from; None: the importer hashes the row's content."""
    split: str | None = None
    """The split the file says the sample belongs to (Label Studio tasks' `data.split`), None when it does not say."""
    labels: tuple[str, ...] | None = None
    """Every chosen class or tag of a Label Studio result (several for a multi-label run), None when none is given."""
    value: float | None = None
    """A Label Studio Number result (a regression run's value), None when none is given."""


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        return int(value.strip())
    return None


def _load_json(path: Path) -> list:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(payload, list):
        raise DataError(f"{path}: expected a JSON list of Label Studio tasks, found a {type(payload).__name__}")
    return payload


def _choice(path: Path, where: str, choices: object) -> tuple[str, ...]:
    """The chosen classes or tags (one for a classification run; the run's kind checks how many)."""
    if isinstance(choices, str):
        return (choices,)
    if isinstance(choices, dict) and "choices" in choices:
        choices = choices["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise DataError(f"{path}: {where}: expected a list of chosen classes in value.choices, found {choices!r}")
    return tuple(choices)


def _number(path: Path, where: str, value: object) -> float:
    if isinstance(value, dict) and "number" in value:
        value = value["number"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{path}: {where}: expected a number in value.number, found {value!r}")
    return float(value)


def _answer(path: Path, where: str, value: dict) -> tuple[str, ...] | float:
    return _number(path, where, value) if "number" in value else _choice(path, where, value["choices"])


def _row_with(row: ReviewRow, answer: tuple[str, ...] | float | None) -> ReviewRow:
    """`row` carrying an answer: chosen classes/tags (label: the only one) or a number."""
    if answer is None:
        return row
    if isinstance(answer, float):
        return replace(row, value=answer)
    return replace(row, label=answer[0] if len(answer) == 1 else None, labels=answer)


def content_key(*parts: object) -> str:
    """A short hash naming a row by its content (what a file without annotation ids offers)."""
    return "sha:" + hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:20]


def _stamp(annotation: dict) -> str:
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")


def _annotation_choice(path: Path, where: str, annotations: object
                       ) -> tuple[tuple[str, ...] | float | None, str | None]:
    """(chosen classes or number, key) of the latest annotation that was not cancelled, (None, None) when there is
    none; key names the annotation (its id and last update) when it has an id."""
    if annotations is None:
        return None, None
    if not isinstance(annotations, list):
        raise DataError(f"{path}: {where}: `annotations` must be a list")
    candidates = []
    for position, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise DataError(f"{path}: {where}: annotation {position} is not an object")
        if annotation.get("was_cancelled"):
            continue
        result = annotation.get("result") or []
        if not isinstance(result, list):
            raise DataError(f"{path}: {where}: annotation {position}: `result` must be a list")
        entries = [r for r in result if isinstance(r, dict) and isinstance(r.get("value"), dict)
                   and ("choices" in r["value"] or "number" in r["value"])]
        named = [r for r in entries if r.get("from_name") in (CONTROL, VALUE_CONTROL)]
        entries = named or entries
        if len(entries) > 1:
            raise DataError(f"{path}: {where}: annotation {position} has {len(entries)} choice results; "
                            f"expected one from control {CONTROL!r}")
        if entries:
            label = _answer(path, f"{where}, annotation {position}", entries[0]["value"])
            ident = annotation.get("id")
            key = None if ident is None else f"annotation:{ident}:{_stamp(annotation)}"
            candidates.append((_stamp(annotation), position, label, key))
    if not candidates:
        return None, None
    latest = max(candidates, key=lambda c: (c[0], c[1]))
    return latest[2], latest[3]


def _latest_per_sample(rows: list[tuple[str, int, ReviewRow]]) -> list[ReviewRow]:
    """JSON-MIN: one row per annotation; the latest annotation of each sample counts (ties: the later in the file),
    unannotated rows only where a sample has no annotation."""
    best: dict[int, tuple[bool, str, int, ReviewRow]] = {}
    for stamp, position, row in rows:
        candidate = (row.labels is not None or row.value is not None, stamp, position, row)
        current = best.get(row.sample_id)
        if current is None or candidate[:3] > current[:3]:
            best[row.sample_id] = candidate
    return [entry[3] for entry in sorted(best.values(), key=lambda e: e[2])]


def read_label_studio(path: Path) -> list[ReviewRow]:
    """ReviewRows of a Label Studio JSON (or JSON-MIN) export; unannotated tasks give label None."""
    path = Path(path)
    rows, minimal_rows = [], []
    for index, task in enumerate(_load_json(path)):
        if not isinstance(task, dict):
            raise DataError(f"{path}: task {index} is not a JSON object")
        where = f"task {index}" + (f" (id {task['id']})" if "id" in task else "")
        minimal = "data" not in task and "annotations" not in task
        data = task if minimal else task.get("data")
        if not isinstance(data, dict) or "sample_id" not in data:
            raise DataError(f"{path}: {where} has no data.sample_id; was it exported by `gradsift export "
                            "--format label-studio`?")
        sample_id = _integer(data["sample_id"])
        if sample_id is None:
            raise DataError(f"{path}: {where}: data.sample_id {data['sample_id']!r} is not an integer")
        given = data.get("given_label")
        if given is None and isinstance(data.get("given_tags"), list):  # a multi-label run's task: its tag names
            given = "|".join(str(tag) for tag in data["given_tags"])
        elif given is None and isinstance(data.get("given_value"), (int, float)):  # a regression run's task
            given = repr(float(data["given_value"]))
        split = data.get("split")
        row = ReviewRow(sample_id, None, None, where, None if given is None else str(given),
                        split=None if split is None else str(split))
        if minimal:
            label = (_choice(path, where, task[CONTROL]) if task.get(CONTROL) is not None
                     else _number(path, where, task[VALUE_CONTROL]) if task.get(VALUE_CONTROL) is not None else None)
            ident = task.get("annotation_id")
            key = None if ident is None else f"sample:{sample_id}:annotation:{ident}:{_stamp(task)}"
            minimal_rows.append((_stamp(task), index, replace(_row_with(row, label), source_key=key)))
        else:
            label, key = _annotation_choice(path, where, task.get("annotations"))
            if key is not None:  # the sample too: a hand-made file may reuse annotation ids across tasks
                key = f"sample:{sample_id}:task:{task.get('id')}:{key}"
            rows.append(replace(_row_with(row, label), source_key=key))
    return rows + _latest_per_sample(minimal_rows)


def read_csv(path: Path) -> list[ReviewRow]:
    """ReviewRows of a corrections CSV (`sample_id`, and `label` and/or `action`)."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if "sample_id" not in table.columns or not ({"label", "action"} & set(table.columns)):
        found = [c if len(c) <= 30 else c[:27] + "..." for c in table.columns[:8]]
        more = f" (and {len(table.columns) - 8} more)" if len(table.columns) > 8 else ""
        raise DataError(f"{path}: a corrections CSV needs columns sample_id and label (and/or action); "
                        f"found {', '.join(found) or 'none'}{more}")
    rows = []
    for index, record in enumerate(table.to_dict("records")):
        where = f"line {index + 2}"
        sample_id = _integer(record["sample_id"])
        if sample_id is None:
            raise DataError(f"{path}: {where}: sample_id {record['sample_id']!r} is not an integer")
        action = record.get("action", "").strip().lower() or None
        if action is not None and action not in CSV_ACTIONS:
            raise DataError(f"{path}: {where}: action {record['action']!r} is not one of {', '.join(CSV_ACTIONS)}")
        label = record.get("label", "").strip() or None
        if action is None and label is None:
            raise DataError(f"{path}: {where}: sample {sample_id} has neither a label nor an action")
        rows.append(ReviewRow(sample_id, label, action, where, source_key=content_key("csv", sample_id, label, action)))
    return rows
