"""The keyboard-first review queue: one flagged sample at a time, each decision one key.

The queue walks the flagged samples that match the review page's filters, highest score first,
and shows the first one that is neither reviewed nor skipped. Keys (Streamlit button shortcuts;
they do not fire while a text field has the focus):

- M confirm mislabeled · K keep (false alarm) · A accept the suggested label (a relabel, or keep
  when the suggestion is the given label);
- 1–9 relabel to the first nine classes; any class through the searchable picker;
- N next (skip this sample for now) · U undo the reviewer's last decision (core.run.reviews: the
  history keeps it and its undo); the undone sample is unreviewed again and comes back first.

Every decision is one row in reviews.sqlite; the page then reruns and the queue has advanced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.run import schema
from core.run.reviews import ACTION, KEEP, MISLABELED, RELABEL
from dashboard import auth, data, formatting, widgets

SKIPPED = "queue_skipped"
"""session_state key: the sample ids skipped with N in this session."""
KEYS = {MISLABELED: "M", KEEP: "K", "accept": "A", "next": "N", "undo": "U"}
RELABEL_KEYS = "123456789"
"""Key i relabels to the i-th class (index i − 1)."""


def skipped() -> list[int]:
    return list(st.session_state.get(SKIPPED, []))


def queue_order(rows: pd.DataFrame, decided: np.ndarray, skipped_ids: Sequence[int]) -> pd.DataFrame:
    """The rows still to review, in `rows`' order (highest score first): unreviewed and not skipped."""
    ids = rows[schema.SAMPLE_ID].to_numpy(dtype=np.int64)
    keep = (decided[ids] == "") & ~np.isin(ids, np.asarray(list(skipped_ids), dtype=np.int64))
    return rows[keep]


def _decide(run_path: str, sample_id: int, action: str, new_label: int | None, reviewer: str,
            detector: str) -> None:
    if widgets.record_review(run_path, [sample_id], action, new_label, reviewer, detector):
        st.rerun()


def controls_ui(run_path: str, record: dict, names: Sequence[str], reviewer: str, detector: str) -> None:
    """The decision buttons of the current sample, each with its key."""
    sample_id = int(record[schema.SAMPLE_ID])
    disabled = not reviewer
    cols = st.columns(3)
    if cols[0].button("Confirm mislabeled", key="queue_mislabeled", shortcut=KEYS[MISLABELED], disabled=disabled,
                      type="primary", width="stretch"):
        _decide(run_path, sample_id, MISLABELED, None, reviewer, detector)
    if cols[1].button("Keep (false alarm)", key="queue_keep", shortcut=KEYS[KEEP], disabled=disabled,
                      width="stretch"):
        _decide(run_path, sample_id, KEEP, None, reviewer, detector)
    action, target = widgets.accept_action(record)
    accept = "Accept: keep" if action == KEEP else f"Accept {formatting.class_name(names, target)}"
    if cols[2].button(accept, key="queue_accept", shortcut=KEYS["accept"], disabled=disabled, width="stretch"):
        _decide(run_path, sample_id, action, target, reviewer, detector)
    st.caption("Relabel to")
    first = list(range(min(len(names), len(RELABEL_KEYS))))
    row = st.columns(max(len(first), 1))
    for cell, label in zip(row, first):
        if cell.button(formatting.class_name(names, label), key=f"queue_relabel_{label}", shortcut=RELABEL_KEYS[label],
                       disabled=disabled, width="stretch"):
            _decide(run_path, sample_id, RELABEL, label, reviewer, detector)
    picker, go = st.columns([3, 1])
    chosen = picker.selectbox("Any class (type to search)", list(range(len(names))), index=None,
                              key="queue_pick", format_func=lambda label: formatting.class_name(names, label),
                              placeholder="search the classes", label_visibility="collapsed")
    if go.button("Relabel", key="queue_relabel_picked", disabled=disabled or chosen is None, width="stretch"):
        _decide(run_path, sample_id, RELABEL, int(chosen), reviewer, detector)


def undo_ui(run_path: str, reviewer: str, container=st) -> None:
    """A button (key U) that reverts the reviewer's last decision; its label says which."""
    store = data.review_store(run_path)
    last = store.last_action(reviewer) if reviewer else pd.DataFrame()
    what = (f"Undo {last[ACTION].iloc[0]} of #{int(last[schema.SAMPLE_ID].iloc[0])}"
            + (f" (+{len(last) - 1})" if len(last) > 1 else "")) if len(last) else "Undo"
    if container.button(what, key="queue_undo", shortcut=KEYS["undo"], disabled=not len(last), width="stretch",
                        help="Reverts your last decision (a bulk action whole); the history keeps both."):
        restored = store.undo(auth.current_actor())  # the store checks the role
        st.session_state[SKIPPED] = [i for i in skipped() if i not in restored]
        st.toast(f"Undone: {len(restored)} sample(s) back to their previous state")
        st.rerun()


def navigation_ui(run_path: str, sample_id: int | None, reviewer: str) -> None:
    """Next (skip) and undo."""
    cols = st.columns(2)
    if cols[0].button("Next (skip)", key="queue_next", shortcut=KEYS["next"], disabled=sample_id is None,
                      width="stretch"):
        st.session_state[SKIPPED] = skipped() + [int(sample_id)]
        st.rerun()
    undo_ui(run_path, reviewer, cols[1])


def queue_ui(run_path: str, rows: pd.DataFrame, decided: np.ndarray, names: Sequence[str], reviewer: str,
             detector: str, score_column: str, decide: bool = True) -> None:
    """The current sample of the queue, large, with its labels, suggestion and decision keys."""
    todo = queue_order(rows, decided, skipped())
    st.caption(
        f"{len(todo):,} to review in this queue · {int((decided[rows[schema.SAMPLE_ID].to_numpy()] != '').sum()):,}"
        f" reviewed · {len(skipped())} skipped · keys: M mislabeled · K keep · A accept the suggestion · "
        "1–9 relabel · N next · U undo"
    )
    if not len(todo):
        st.success("Nothing left to review here." if not skipped() else
                   f"Every sample here is reviewed or skipped ({len(skipped())} skipped).")
        if skipped() and st.button("Review the skipped ones", key="queue_unskip"):
            st.session_state[SKIPPED] = []
            st.rerun()
        if decide:
            navigation_ui(run_path, None, reviewer)
        return
    card_ui(run_path, todo.iloc[0].to_dict(), names, data.has_truth(rows), reviewer, detector, score_column,
            decide=decide)


def card_ui(run_path: str, record: dict, names: Sequence[str], truth_known: bool, reviewer: str, detector: str,
            score_column: str, *, decide: bool = True, skip: bool = True) -> None:
    """One sample, large, with its labels and suggestion, then its decision keys (none when `decide` is False: a
    viewer's card) and next/undo (`skip` False: no next, for a queue that hands out one leased sample at a time)."""
    sample_id = int(record[schema.SAMPLE_ID])
    picture, facts = st.columns([1, 2])
    if data.is_image_run(run_path):
        image = data.images(run_path, np.array([int(record[schema.THUMBNAIL_ROW])]), min_side=224)[0]
        picture.image(formatting.as_image(image), width="stretch")
    elif data.is_text_run(run_path):
        with picture:
            widgets.text_ui(record[schema.TEXT], key=f"queue_full_{sample_id}")
    else:
        picture.metric("feature x, y", f"{record[schema.FEATURE_X]:.3g}, {record[schema.FEATURE_Y]:.3g}")
    with facts:
        st.markdown(f"#### #{sample_id} · {score_column.removeprefix(schema.SCORE_PREFIX)} score "
                    f"{record[score_column]:.4g}")
        st.markdown(formatting.labels_markdown(record, names, truth_known))
        st.markdown(formatting.suggestion_markdown(record, names) + f" · estimated P(wrong label) "
                    f"{record[schema.NOISE_PROBABILITY]:.2f}")
        if decide:
            controls_ui(run_path, record, names, reviewer, detector)
            if skip:
                navigation_ui(run_path, sample_id, reviewer)
            else:
                undo_ui(run_path, reviewer)
