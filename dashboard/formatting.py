"""Pure formatting helpers shared by pages: class names, label lines, image layout, table heights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.run import schema


def table_height(rows: int) -> int:
    """Pixel height that shows `rows` data rows of an st.dataframe without scrolling."""
    return 38 + 35 * max(rows, 1)


def class_name(names: Sequence[str], label) -> str:
    if label is None or label is pd.NA or (isinstance(label, float) and np.isnan(label)):
        return "?"
    label = int(label)
    return f"{names[label]}" if 0 <= label < len(names) else str(label)


def labels_markdown(row: Mapping, names: Sequence[str], truth_known: bool) -> str:
    """Given label in red, true label in green (when known), predicted label plain."""
    parts = [f":red[given **{class_name(names, row[schema.GIVEN_LABEL])}**]"]
    if truth_known:
        parts.append(f":green[true **{class_name(names, row[schema.TRUE_LABEL])}**]")
    parts.append(f"pred {class_name(names, row[schema.PRED_LABEL])}")
    return "  \n".join(parts)  # one label per line: cards stay the same height


def suggestion_markdown(row: Mapping, names: Sequence[str]) -> str:
    """'suggests **x** (0.93) · runner-up y (0.04)'; 'agrees: **x**' when the suggestion is the given label."""
    suggested = class_name(names, row[schema.SUGGESTED_LABEL])
    verb = "agrees: **" if int(row[schema.SUGGESTED_LABEL]) == int(row[schema.GIVEN_LABEL]) else "suggests **"
    return (f"{verb}{suggested}** ({row[schema.SUGGESTED_LABEL_CONFIDENCE]:.2f}) · runner-up "
            f"{class_name(names, row[schema.RUNNER_UP_LABEL])} ({row[schema.RUNNER_UP_CONFIDENCE]:.2f})")


def as_image(image: np.ndarray) -> np.ndarray:
    """(H, W) for one-channel images (st.image wants 2-D grey or 3-channel RGB)."""
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
