"""Review files other tools write, read into one shape: `ReviewRow`s (what a person said about a sample).

- A Label Studio JSON export of annotated tasks: a list of tasks, each with `data.sample_id`
  (as `gradsift export --format label-studio` wrote it) and `annotations[].result[]` entries
  whose `value.choices` hold the chosen class. The latest annotation that was not cancelled
  counts (by `updated_at`, else `created_at`, else its position); tasks nobody annotated are
  skipped. The JSON-MIN export (one flat object per annotation: `sample_id`, `label`) is read too.
- A CSV of corrections: `sample_id`, and `label` (a class name or index) and/or `action`
  (mislabeled, relabel or keep).

Reading checks the file's shape only; `core.export.import_reviews` checks ids and classes
against the run. Errors name the file and the task or line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError
from core.run.reviews import KEEP, MISLABELED, RELABEL

CSV_ACTIONS = (MISLABELED, RELABEL, KEEP)
CONTROL = "label"
"""The Choices control name gradsift's labeling config uses (others are accepted when it is the only one)."""


@dataclass(frozen=True)
class ReviewRow:
    """One sample's review in a file: the chosen class as written (or None), the stated action (or None),
    the given label the file believed the sample had (or None), and where it was (for error messages)."""

    sample_id: int
    label: str | None
    action: str | None
    where: str
    given: str | None = None


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


def _choice(path: Path, where: str, choices: object) -> str:
    if isinstance(choices, str):
        return choices
    if isinstance(choices, dict) and "choices" in choices:
        choices = choices["choices"]
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
        raise DataError(f"{path}: {where}: expected exactly one chosen class in value.choices, found {choices!r}")
    return choices[0]


def _annotation_choice(path: Path, where: str, annotations: object) -> str | None:
    """The class chosen by the latest annotation that was not cancelled, or None when there is none."""
    if annotations is None:
        return None
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
                   and "choices" in r["value"]]
        named = [r for r in entries if r.get("from_name") == CONTROL]
        entries = named or entries
        if len(entries) > 1:
            raise DataError(f"{path}: {where}: annotation {position} has {len(entries)} choice results; "
                            f"expected one from control {CONTROL!r}")
        if entries:
            stamp = str(annotation.get("updated_at") or annotation.get("created_at") or "")
            label = _choice(path, f"{where}, annotation {position}", entries[0]["value"]["choices"])
            candidates.append((stamp, position, label))
    return max(candidates)[2] if candidates else None


def read_label_studio(path: Path) -> list[ReviewRow]:
    """ReviewRows of a Label Studio JSON (or JSON-MIN) export; unannotated tasks give label None."""
    path = Path(path)
    rows = []
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
        if minimal:
            label = _choice(path, where, task[CONTROL]) if task.get(CONTROL) is not None else None
        else:
            label = _annotation_choice(path, where, task.get("annotations"))
        given = data.get("given_label")
        rows.append(ReviewRow(sample_id, label, None, where, None if given is None else str(given)))
    return rows


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
        rows.append(ReviewRow(sample_id, label, action, where))
    return rows
