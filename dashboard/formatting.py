"""Pure formatting helpers shared by pages: class names, label lines, texts, image layout, table heights.

Texts and class names come from the user's data: anything put into Markdown goes through
`escape_markdown` (st.markdown renders no HTML, but it would render `**bold**`, links and
`:red[...]` directives), texts are shown with st.text (no Markdown at all), and text put into
Plotly hover labels (which render a subset of HTML) goes through `hover_text`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.run import schema
from core.run.label_forms import tag_set


def table_height(rows: int) -> int:
    """Pixel height that shows `rows` data rows of an st.dataframe without scrolling."""
    return 38 + 35 * max(rows, 1)


CARD_TEXT_CHARS = 180
"""Characters of a text shown on a card; the whole text is one click away (an expander)."""
HOVER_TEXT_CHARS = 100
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>:$~=^])")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown-special character backslash-escaped: shown literally by st.markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def short_text(text: str, limit: int = CARD_TEXT_CHARS) -> str:
    """The first `limit` characters of `text` on one line (whitespace runs collapsed), '…' when cut."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def hover_text(text: str, limit: int = HOVER_TEXT_CHARS) -> str:
    """A short, HTML-escaped text for a Plotly hover label (which renders tags such as <b> and <a>)."""
    return html.escape(short_text(text, limit), quote=False)


METRIC_NAMES = {"accuracy": "accuracy", "micro_f1": "micro-F1", "rmse": "RMSE"}


def metric_name(metric: str) -> str:
    """A task metric's name as the pages write it (micro_f1 → micro-F1, rmse → RMSE)."""
    return METRIC_NAMES.get(metric, metric)


def class_name(names: Sequence[str], label) -> str:
    if label is None or label is pd.NA or (isinstance(label, float) and np.isnan(label)):
        return "?"
    label = int(label)
    return f"{names[label]}" if 0 <= label < len(names) else str(label)


def labels_markdown(row: Mapping, names: Sequence[str], truth_known: bool) -> str:
    """Given label in red, true label in green (when known), predicted label plain (names escaped)."""
    def name(column: str) -> str:
        return escape_markdown(class_name(names, row[column]))

    parts = [f":red[given **{name(schema.GIVEN_LABEL)}**]"]
    if truth_known:
        parts.append(f":green[true **{name(schema.TRUE_LABEL)}**]")
    parts.append(f"pred {name(schema.PRED_LABEL)}")
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


# -- multi-label and regression runs ---------------------------------------------------------
KEPT_TAG, ADDED_TAG, REMOVED_TAG = "kept", "added", "removed"
"""How a tag of the given set compares with another set (the suggestion, a reviewer's draft)."""


def tag_text(tags, names: Sequence[str]) -> str:
    """A tag set as its names, comma-joined; "(no tag)" for the empty set (not escaped)."""
    return ", ".join(class_name(names, t) for t in as_tags(tags)) or "(no tag)"


def as_tags(cell) -> tuple[int, ...]:
    """A stored tag-index list (a list, an array, a tuple; None = no tag) as a sorted tuple."""
    return () if cell is None else tag_set(cell)


def tag_changes(given: Sequence[int], other: Sequence[int]) -> list[tuple[int, str]]:
    """Each tag of `given` ∪ `other`, in index order, with KEPT_TAG (in both), ADDED_TAG (only in `other`) or
    REMOVED_TAG (only in `given`)."""
    given, other = set(map(int, given)), set(map(int, other))
    return [(tag, KEPT_TAG if tag in given and tag in other else ADDED_TAG if tag in other else REMOVED_TAG)
            for tag in sorted(given | other)]


def tag_chips(given: Sequence[int], other: Sequence[int] | None, names: Sequence[str]) -> str:
    """Markdown chips of a tag set against the given one (names escaped): kept tags grey, added tags green with
    '+', removed tags red and struck through; `other` None shows the given set alone. '(no tag)' when empty."""
    changes = tag_changes(given, given if other is None else other)
    if not changes:
        return ":gray-background[(no tag)]"
    style = {KEPT_TAG: ":gray-background[{}]", ADDED_TAG: ":green-background[+{}]",
             REMOVED_TAG: ":red-background[~~{}~~]"}
    return " ".join(style[status].format(escape_markdown(class_name(names, tag))) for tag, status in changes)


def value_markdown(row: Mapping, truth_known: bool) -> str:
    """Given value in red, true value in green (when known), predicted value and the residual (pred − given)."""
    parts = [f":red[given **{row[schema.GIVEN_VALUE]:.6g}**]"]
    if truth_known and row.get(schema.TRUE_VALUE) is not None and not pd.isna(row[schema.TRUE_VALUE]):
        parts.append(f":green[true **{row[schema.TRUE_VALUE]:.6g}**]")
    parts.append(f"pred {row[schema.PRED_VALUE]:.6g} · residual {row[schema.RESIDUAL_VALUE]:+.4g}")
    return "  \n".join(parts)


def value_suggestion_markdown(row: Mapping) -> str:
    """'suggests **v** [low, high]'."""
    return (f"suggests **{row[schema.SUGGESTED_VALUE]:.6g}** [{row[schema.SUGGESTED_LOW]:.6g}, "
            f"{row[schema.SUGGESTED_HIGH]:.6g}]")
