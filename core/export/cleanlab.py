"""`gradsift export --format cleanlab`: the flags and a label-quality score in cleanlab's orientation.

One row per sample (default: every training sample), in sample order, as CSV or parquet
(by the suffix of `--out`). Columns:

- `sample_id`, `source`;
- `is_label_issue`: the primary detector's flags at the run's budget (`is_flagged`);
- `label_score`: cleanlab's orientation, higher = the given label is more likely correct,
  in [0, 1]: `(r − 1) / (n − 1)` with r the sample's rank by the primary score among all n
  samples of the split (1 = most outlying; ties by sample order, NaN scores last, as the flags
  are ranked). It is monotone in the score, so the flagged samples are exactly those with the
  lowest label_score, as cleanlab's `find_label_issues(..., return_indices_ranked_by=...)` ranks;
- `given_label`, `predicted_label` (the suggested label when the run has one, else the model's
  prediction) as class indices, and `given_class`, `predicted_class` as class names;
- `<primary>_score`: the raw primary score (higher = more outlying); `review`: the current decision;
  `predicted_label_confidence` when the run has a `suggested_label_confidence` column.

Multi-label runs (cleanlab.multilabel_classification's label format): `given_label` and `predicted_label` are
lists of tag indices (a parquet list column; in CSV the list written as `[0, 3]`), `given_class` and
`predicted_class` the `|`-joined tag names, `predicted_label_confidence` the per-tag confidence list.
Regression runs (cleanlab.regression's inputs): `given_label` is the given value and `predicted_label` the model's
prediction (cleanlab's `labels` and `predictions`), with `suggested_value`, `suggested_low`, `suggested_high` and
`residual` (predicted − given, the target's units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.detect.flagging import rank_of
from core.errors import ConfigError
from core.export.files import write_new
from core.export.source import REVIEW, SCORE, ExportSource, Written
from core.run import schema

SUFFIXES = (".csv", ".parquet")


def label_scores(scores: np.ndarray) -> np.ndarray:
    """(n,) float64 in [0, 1]: 0 for the most outlying score, 1 for the least (see the module docstring)."""
    n = len(scores)
    if n <= 1:
        return np.ones(n)
    return (rank_of(scores) - 1) / (n - 1)


def table(source: ExportSource, only: str) -> pd.DataFrame:
    """The cleanlab-style table of the rows `only` selects (label scores ranked over the whole split)."""
    if source.task != "classification":
        return _kind_table(source, only)
    frame = source.table
    names = np.asarray(source.class_names, dtype=object)
    given = frame[schema.GIVEN_LABEL].to_numpy(dtype=np.int64)
    predicted = frame[schema.SUGGESTED_LABEL].to_numpy(dtype=np.int64)
    result = pd.DataFrame({
        schema.SAMPLE_ID: frame[schema.SAMPLE_ID].to_numpy(dtype=np.int64),
        schema.SOURCE: frame[schema.SOURCE].to_numpy(),
        "is_label_issue": frame[schema.IS_FLAGGED].to_numpy(dtype=bool),
        "label_score": label_scores(frame[SCORE].to_numpy()),
        "given_label": given,
        "predicted_label": predicted,
        "given_class": names[given],
        "predicted_class": names[predicted],
        f"{source.primary}_score": frame[SCORE].to_numpy(),
        REVIEW: frame[REVIEW].to_numpy(),
    })
    if schema.SUGGESTED_LABEL_CONFIDENCE in frame.columns:
        result["predicted_label_confidence"] = frame[schema.SUGGESTED_LABEL_CONFIDENCE].to_numpy()
    if only == "flagged":
        result = result[result["is_label_issue"]].reset_index(drop=True)
    return result


def _kind_table(source: ExportSource, only: str) -> pd.DataFrame:
    from core.export.source_kinds import tag_text

    frame = source.table
    result = pd.DataFrame({
        schema.SAMPLE_ID: frame[schema.SAMPLE_ID].to_numpy(dtype=np.int64),
        schema.SOURCE: frame[schema.SOURCE].to_numpy(),
        "is_label_issue": frame[schema.IS_FLAGGED].to_numpy(dtype=bool),
        "label_score": label_scores(frame[SCORE].to_numpy()),
    })
    if source.task == "multilabel":
        result["given_label"] = [list(t) for t in frame[schema.GIVEN_TAGS]]
        result["predicted_label"] = [list(t) for t in frame[schema.SUGGESTED_TAGS]]
        result["given_class"] = [tag_text(t, source.class_names) for t in frame[schema.GIVEN_TAGS]]
        result["predicted_class"] = [tag_text(t, source.class_names) for t in frame[schema.SUGGESTED_TAGS]]
        result["predicted_label_confidence"] = list(frame[schema.SUGGESTED_TAG_CONFIDENCE])
    else:
        result["given_label"] = frame[schema.GIVEN_VALUE].to_numpy()
        result["predicted_label"] = frame[schema.PRED_VALUE].to_numpy()
        for name in (schema.SUGGESTED_VALUE, schema.SUGGESTED_LOW, schema.SUGGESTED_HIGH):
            result[name] = frame[name].to_numpy()
        result["residual"] = frame[schema.RESIDUAL_VALUE].to_numpy()
    result[f"{source.primary}_score"] = frame[SCORE].to_numpy()
    result[REVIEW] = frame[REVIEW].to_numpy()
    if only == "flagged":
        result = result[result["is_label_issue"]].reset_index(drop=True)
    return result


def export(source: ExportSource, out: Path, only: str, image_root: Path | None = None) -> Written:
    """Write the table to `out` (.csv or .parquet); refused if `out` exists."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"--out {out}: the cleanlab table is written as .csv or .parquet, "
                          f"not {suffix or 'no suffix'}")
    if image_root is not None:
        raise ConfigError("--image-root applies to --format label-studio only")
    frame = table(source, only)
    if suffix == ".csv":
        write_new(out, frame.to_csv(index=False).encode())
    else:
        write_new(out, lambda handle: frame.to_parquet(handle, index=False))
    return Written([out], len(frame), "cleanlab rows")
