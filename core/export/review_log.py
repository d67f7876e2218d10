"""`gradsift export --format review-log`: the review log as CSV, the audit trail of every decision.

One row per row of the split's review store (core.run.reviews), oldest first: every action and
every undo, with the store's columns (`review_id`, `sample_id`, `action`, `new_label`, `reviewer`,
`created`, `detector`, `undoes`) and `new_label_name`, the relabel target's class name ('' for
other actions). The dashboard's "Download review log" is this export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.export.files import write_new
from core.export.source import ExportSource, Written
from core.run.reviews import NEW_LABEL

NEW_LABEL_NAME = "new_label_name"


def review_log_csv(history: pd.DataFrame, class_names: list[str]) -> bytes:
    """A `ReviewStore.history()` frame as CSV bytes, with the relabel target's class name beside its index; for a
    multi-label run `new_label` is the tag-index list and `new_label_name` the `|`-joined tag names; for a
    regression run `new_label` is the value set and `new_label_name` is ''."""
    frame = history.copy()
    names = np.asarray(class_names, dtype=object)
    label = frame[NEW_LABEL]
    if label.dtype == object:  # tag tuples or values (core.run.label_forms)
        frame[NEW_LABEL_NAME] = ["|".join(names[list(v)]) if isinstance(v, tuple) else "" for v in label]
        frame[NEW_LABEL] = [list(v) if isinstance(v, tuple) else v for v in label]
        return frame.to_csv(index=False).encode()
    frame[NEW_LABEL_NAME] = np.where(label.notna(), names[label.fillna(0).to_numpy(dtype=np.int64)], "")
    return frame.to_csv(index=False).encode()


def export(source: ExportSource, out: Path, only: str, image_root: Path | None = None) -> Written:
    """Write the split's review log to `out` (.csv); never overwrites."""
    if out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {out}: the review log is written as .csv, not {out.suffix or 'no suffix'}")
    if only != "all":
        raise ConfigError("--format review-log writes the whole log; drop --only flagged")
    if image_root is not None:
        raise ConfigError("--image-root applies to --format label-studio only")
    history = source.store().history()
    write_new(out, review_log_csv(history, source.class_names))
    return Written([out], len(history), "review log rows")
