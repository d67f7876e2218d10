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
