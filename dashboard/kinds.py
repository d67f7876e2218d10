"""The review of multi-label and regression runs: tag chips and tag toggles, given vs predicted values, "set value".

The Flagged review page hands a run of these kinds to `review_ui`. Everything it decides goes through core: the
flagging (dashboard.data.flagged_mask), the review store (core.run.reviews; the store checks the signed-in actor's
role and the label's form: core.run.label_forms), and the accepting rule (`accept_tags`, `accept_value`: keep when
the suggestion is the given label, else a relabel to it).

- Cards: the sample, its given tags as chips against the suggestion (kept grey, added green with +, removed red,
  struck through) or its given, true and predicted values with the residual; the decision; "Edit tags" (toggle
  pills, then save) or "Set value" (a number) in a popover, the suggestion accepted in one click, mislabeled /
  keep / clear.
- The keyboard queue: one sample at a time; keys 1–9 toggle the first nine tags of the draft, S saves the draft
  (a relabel to it; a keep when it is the given set), A accepts the suggestion, M mislabeled, K keep, N next,
  U undo. For values S sets the typed value.
- Regression: the given-vs-predicted scatter of the flagged set in place of the class matrix.
- A signed-in annotator does not see this page's grid: it gets the leased queue of dashboard.team_review
  (core.review.assignment: overlap, gold samples mixed in, leases; blind review), its card drawn by `card_ui`.
- A lead (or anyone, without sign-in) sees the open disagreements with every vote and the team's consensus
  (core.review.consensus: the per-tag majority, the values' median) and accepts it in one click.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.auth.roles import ANNOTATOR, allowed
from core.evaluate import report
from core.review import consensus
from core.run import schema
from core.run.reviews import CLEAR, KEEP, MISLABELED, RELABEL, decision_per_sample
from dashboard import auth, data, figures, formatting, state, team_data, widgets
from dashboard.queue import KEYS, RELABEL_KEYS, navigation_ui, queue_order, skipped, undo_ui

CLASSIFICATION = "classification"
SAVE_KEY = "S"
PER_PAGE = 24
COLUMNS = 4
UNREVIEWED, REVIEWED, ALL = "unreviewed", "reviewed", "all"
GRID, QUEUE = "grid", "queue (keyboard)"


def task_name(run_path: str) -> str:
    """The run's task kind (its manifest's `task`; classification for runs written before task kinds)."""
    return report.task_name(data.manifest(run_path))


def accept_tags(given: Sequence[int], suggested: Sequence[int]) -> tuple[str, tuple[int, ...] | None]:
    """Accepting a tag suggestion: keep when it is the given set, else a relabel to it."""
    given, suggested = formatting.as_tags(given), formatting.as_tags(suggested)
    return (KEEP, None) if given == suggested else (RELABEL, suggested)


def accept_value(given: float, suggested: float) -> tuple[str, float | None]:
    """Accepting a value suggestion: keep when it is the given value, else "set value" to it."""
    return (KEEP, None) if float(given) == float(suggested) else (RELABEL, float(suggested))


def toggled(tags: Sequence[int], tag: int) -> tuple[int, ...]:
    """`tags` with `tag` added, or removed when present."""
    tags = set(map(int, tags))
    return tuple(sorted(tags ^ {int(tag)}))


def _decide(run_path: str, ids: list[int], action: str, label, reviewer: str, detector: str | None,
            split: str = "train") -> None:
    if widgets.record_review(run_path, ids, action, label, reviewer, detector, split):
        st.rerun()


def decision_ui(decision: str, label, given, names: Sequence[str]) -> None:
    if decision == RELABEL and isinstance(label, tuple):
        st.markdown("reviewed: " + formatting.tag_chips(given, label, names))
    elif decision == RELABEL and label is not None:
        st.badge(f"value set → {float(label):.6g}", color="orange")
    elif decision:
        widgets.decision_badge_ui(decision)


def _labels_ui(record: dict, names: Sequence[str], task: str, truth_known: bool) -> None:
    if task == "multilabel":
        given = formatting.as_tags(record[schema.GIVEN_TAGS])
        st.markdown("given: " + formatting.tag_chips(given, None, names))
        st.markdown("suggested: " + formatting.tag_chips(given, formatting.as_tags(record[schema.SUGGESTED_TAGS]),
                                                         names))
        if truth_known and record.get(schema.TRUE_TAGS) is not None:
            st.caption("true: " + formatting.escape_markdown(formatting.tag_text(record[schema.TRUE_TAGS], names)))
    else:
        st.markdown(formatting.value_markdown(record, truth_known))
        st.caption(formatting.value_suggestion_markdown(record))


def edit_ui(run_path: str, record: dict, names: Sequence[str], task: str, reviewer: str, detector: str | None,
            key: str, split: str = "train") -> None:
    """The card's actions: edit tags / set value (a popover), accept the suggestion, mislabeled, keep, clear; written
    to the `split`'s review store. `record` holds the sample id, the given and the suggested tags or values."""
    sample_id = int(record[schema.SAMPLE_ID])
    disabled = not reviewer
    if task == "multilabel":
        given = formatting.as_tags(record[schema.GIVEN_TAGS])
        with st.popover("Edit tags", disabled=disabled):
            chosen = st.pills("Tags", list(range(len(names))), selection_mode="multi", default=list(given),
                              format_func=lambda t: formatting.class_name(names, t), key=f"{key}_tags_{sample_id}")
            if st.button("Save tags", key=f"{key}_save_{sample_id}"):
                action, label = accept_tags(given, chosen or [])
                _decide(run_path, [sample_id], action, label, reviewer, detector, split)
        action, label = accept_tags(given, record[schema.SUGGESTED_TAGS])
    else:
        with st.popover("Set value", disabled=disabled):
            value = st.number_input("Value", value=float(record[schema.SUGGESTED_VALUE]), format="%.6g",
                                    key=f"{key}_value_{sample_id}")
            if st.button("Set value", key=f"{key}_set_{sample_id}"):
                action, label = accept_value(record[schema.GIVEN_VALUE], value)
                _decide(run_path, [sample_id], action, label, reviewer, detector, split)
        action, label = accept_value(record[schema.GIVEN_VALUE], record[schema.SUGGESTED_VALUE])
    if st.button("Accept the suggestion", key=f"{key}_accept_{sample_id}", disabled=disabled):
        _decide(run_path, [sample_id], action, label, reviewer, detector, split)
    choice = st.menu_button("Review", [widgets.ACTION_LABELS[MISLABELED], widgets.ACTION_LABELS[KEEP],
                                       widgets.ACTION_LABELS[CLEAR]], key=f"{key}_menu_{sample_id}", disabled=disabled)
    if choice is not None:
        action = {label: a for a, label in widgets.ACTION_LABELS.items()}[choice]
        _decide(run_path, [sample_id], action, None, reviewer, detector, split)


def _picture_ui(run_path: str, record: dict, min_side: int, key: str = "kind") -> None:
    if data.is_image_run(run_path):
        image = data.images(run_path, np.array([int(record[schema.THUMBNAIL_ROW])]), min_side=min_side)[0]
        st.image(formatting.as_image(image), width="stretch")
    elif data.is_text_run(run_path):
        widgets.text_ui(record[schema.TEXT], key=f"{key}_text_{int(record[schema.SAMPLE_ID])}_{min_side}")
    else:
        st.metric("feature x, y", f"{record[schema.FEATURE_X]:.3g}, {record[schema.FEATURE_Y]:.3g}")


def sample_card_ui(run_path: str, record: dict, names: Sequence[str], task: str, truth_known: bool, decision: str,
                   label, reviewer: str, detector: str | None, score_column: str, actions: bool,
                   key: str = "kind") -> None:
    """One sample's card (module docstring): picture, tag chips or values, score, decision, actions, details.
    `key` prefixes the widget keys (a page that shows a sample twice gives each card its own)."""
    sample_id = int(record[schema.SAMPLE_ID])
    _picture_ui(run_path, record, 112, key)
    _labels_ui(record, names, task, truth_known)
    st.caption(f"#{sample_id} · {record[score_column]:.3g}")
    given = formatting.as_tags(record[schema.GIVEN_TAGS]) if task == "multilabel" else None
    decision_ui(decision, label, given, names)
    if actions:
        edit_ui(run_path, record, names, task, reviewer, detector, key=key)
    if st.button("details", key=f"{key}_detail_{sample_id}", type="tertiary"):
        state.open_detail(sample_id)


def grid_ui(run_path: str, rows: pd.DataFrame, decided: np.ndarray, labels: dict, task: str, reviewer: str,
            detector: str, score_column: str, actions: bool) -> None:
    """Cards of one page of samples (module docstring)."""
    names = data.class_names(run_path)
    truth_known = data.has_truth(rows) if len(rows) else False
    records = rows.to_dict("records")
    for start in range(0, len(records), COLUMNS):
        for cell, record in zip(st.columns(COLUMNS), records[start:start + COLUMNS]):
            sample_id = int(record[schema.SAMPLE_ID])
            with cell.container(border=True):
                sample_card_ui(run_path, record, names, task, truth_known, decided[sample_id], labels.get(sample_id),
                        reviewer, detector, score_column, actions)


def _queue_tags_ui(run_path: str, record: dict, names: Sequence[str], reviewer: str, detector: str) -> None:
    sample_id = int(record[schema.SAMPLE_ID])
    given = formatting.as_tags(record[schema.GIVEN_TAGS])
    draft_key = f"queue_draft_{sample_id}"
    draft = st.session_state.setdefault(draft_key, given)
    st.markdown("draft: " + formatting.tag_chips(given, draft, names))
    first = list(range(min(len(names), len(RELABEL_KEYS))))
    for cell, tag in zip(st.columns(max(len(first), 1)), first):
        if cell.button(formatting.class_name(names, tag), key=f"queue_toggle_{tag}", shortcut=RELABEL_KEYS[tag],
                       type="primary" if tag in draft else "secondary", width="stretch"):
            st.session_state[draft_key] = toggled(draft, tag)
            st.rerun()
    rest = [t for t in range(len(names)) if t not in first]
    if rest:
        extra = st.multiselect("More tags", rest, default=[t for t in draft if t in rest],
                               key=f"queue_more_{sample_id}", format_func=lambda t: formatting.class_name(names, t))
        draft = tuple(sorted({t for t in draft if t in first} | set(extra)))
    if st.button("Save tags", key="queue_save", shortcut=SAVE_KEY, disabled=not reviewer, type="primary"):
        action, label = accept_tags(given, draft)
        _decide(run_path, [sample_id], action, label, reviewer, detector)


def _queue_value_ui(run_path: str, record: dict, reviewer: str, detector: str) -> None:
    sample_id = int(record[schema.SAMPLE_ID])
    value = st.number_input("Value", value=float(record[schema.SUGGESTED_VALUE]), format="%.6g",
                            key=f"queue_value_{sample_id}")
    if st.button("Set value", key="queue_save", shortcut=SAVE_KEY, disabled=not reviewer, type="primary"):
        action, label = accept_value(record[schema.GIVEN_VALUE], value)
        _decide(run_path, [sample_id], action, label, reviewer, detector)


def keys_text(task: str) -> str:
    """The keys of `card_ui`, for a caption."""
    toggles = "1–9 toggle a tag · S save the tags" if task == "multilabel" else "S set the value"
    return f"{toggles} · A accept the suggestion · M mislabeled · K keep · N next · U undo"


def queue_ui(run_path: str, rows: pd.DataFrame, decided: np.ndarray, task: str, reviewer: str, detector: str,
             score_column: str, decide: bool) -> None:
    """The keyboard queue for tags and values (module docstring)."""
    names = data.class_names(run_path)
    todo = queue_order(rows, decided, skipped())
    st.caption(f"{len(todo):,} to review in this queue · {len(skipped())} skipped · keys: {keys_text(task)}")
    if not len(todo):
        st.success("Nothing left to review here.")
        if decide:
            navigation_ui(run_path, None, reviewer)
        return
    card_ui(run_path, todo.iloc[0].to_dict(), names, task, data.has_truth(rows), reviewer, detector, score_column,
            decide=decide)


def card_ui(run_path: str, record: dict, names: Sequence[str], task: str, truth_known: bool, reviewer: str,
            detector: str | None, score_column: str, *, decide: bool = True) -> None:
    """One sample of a tag or value run, large, with its labels and suggestion, then its keys (tag toggles and save,
    or set value; accept, mislabeled, keep, next, undo); no keys when `decide` is False (a viewer's card). The
    keyboard queue and the annotator's leased queue (dashboard.team_review) both draw it."""
    sample_id = int(record[schema.SAMPLE_ID])
    picture, facts = st.columns([1, 2])
    with picture:
        _picture_ui(run_path, record, 224)
    with facts:
        st.markdown(f"#### #{sample_id} · {score_column.removeprefix(schema.SCORE_PREFIX)} score "
                    f"{record[score_column]:.4g}")
        _labels_ui(record, names, task, truth_known)
        st.caption(f"estimated P(wrong label) {record[schema.NOISE_PROBABILITY]:.2f}")
        if not decide:
            return
        if task == "multilabel":
            _queue_tags_ui(run_path, record, names, reviewer, detector)
            action, label = accept_tags(record[schema.GIVEN_TAGS], record[schema.SUGGESTED_TAGS])
        else:
            _queue_value_ui(run_path, record, reviewer, detector)
            action, label = accept_value(record[schema.GIVEN_VALUE], record[schema.SUGGESTED_VALUE])
        cols = st.columns(3)
        if cols[0].button("Accept the suggestion", key="queue_accept", shortcut=KEYS["accept"], disabled=not reviewer,
                          width="stretch"):
            _decide(run_path, [sample_id], action, label, reviewer, detector)
        if cols[1].button("Confirm mislabeled", key="queue_mislabeled", shortcut=KEYS[MISLABELED],
                          disabled=not reviewer, width="stretch"):
            _decide(run_path, [sample_id], MISLABELED, None, reviewer, detector)
        if cols[2].button("Keep (false alarm)", key="queue_keep", shortcut=KEYS[KEEP], disabled=not reviewer,
                          width="stretch"):
            _decide(run_path, [sample_id], KEEP, None, reviewer, detector)
        navigation_ui(run_path, sample_id, reviewer)


def _label_text(label, names: Sequence[str]) -> str:
    if label is None:
        return "-"
    if isinstance(label, list):
        return formatting.tag_text(label, names)
    return f"{float(label):.6g}"


def adjudication_ui(run_path: str) -> None:
    """Open disagreements with their votes and the team's consensus; accepting it is the lead's adjudication."""
    actor = auth.current_actor()
    if actor is None or not allowed(actor, "adjudicate"):
        return
    pending = team_data.adjudication_queue(run_path)
    pending = pending[pending["reason"] == "disagreement"] if len(pending) else pending
    if not len(pending):
        return
    names = data.class_names(run_path)
    with st.expander(f"{len(pending)} open disagreement(s): the team's consensus", expanded=False):
        table = pd.DataFrame({
            "sample": pending[schema.SAMPLE_ID].to_numpy(),
            "votes": [" · ".join(f"{v['reviewer']}: {v['action']} {_label_text(v['new_label'], names)}"
                                 for v in votes) for votes in pending["votes"]],
            "consensus": [_label_text(label, names) for label in pending["consensus_label"]],
            "quality": pending["consensus_quality"].to_numpy(),
        })
        st.dataframe(table, hide_index=True)
        if st.button("Accept the consensus on every open disagreement", key="kind_accept_consensus"):
            from dashboard import team_review  # it draws this module's cards: imported here, not at the top

            team_review.accept(run_path, None, min_quality=0.0)


def detail_ui(run_path: str, row: dict, truth_known: bool) -> None:
    """Sample detail of a tag or value run: labels, facts, the review actions and the sample's review history."""
    names = data.class_names(run_path)
    task = task_name(run_path)
    _labels_ui(row, names, task, truth_known)
    facts = [f"source {formatting.escape_markdown(row[schema.SOURCE])}", f"loss {row[schema.LOSS]:.3f}",
             f"gradient L2 {row[schema.GRAD_L2]:.4g}"]
    if truth_known:
        facts.append("**truly noisy**" if row[schema.IS_NOISY] else "label correct")
    st.markdown(" · ".join(facts))
    reviewer = state.current_reviewer()
    edit_ui(run_path, row, names, task, reviewer, None, key="detail")
    history = data.review_store(run_path).history()
    history = history[history[schema.SAMPLE_ID] == int(row[schema.SAMPLE_ID])]
    if len(history):
        shown = history[["action", "new_label", "reviewer", "created"]].copy()
        shown["new_label"] = [_label_text(list(v) if isinstance(v, tuple) else v, names) for v in shown["new_label"]]
        st.dataframe(shown, hide_index=True)
    elif not reviewer:
        st.caption("Type your name in the sidebar to review this sample.")


def neighbours_ui(run_path: str, frame: pd.DataFrame, sample_id: int, count: int = 12) -> None:
    """The sample's nearest neighbours in gradient space (cosine), as cards without actions."""
    ids, _ = data.neighbors(run_path, sample_id, count, "cosine")
    st.markdown(f"#### {len(ids)} nearest neighbours in gradient space (cosine)")
    decisions = data.review_store(run_path).decisions()
    decided = decision_per_sample(decisions, len(frame))
    labels = labels_of(decisions)
    grid_ui(run_path, frame.iloc[ids], decided, labels, task_name(run_path), "", None,
            schema.score_column(data.flagging(run_path).detector), actions=False)


def matching(frame: pd.DataFrame, flagged: np.ndarray, decided: np.ndarray, status: str,
             score_column: str) -> pd.DataFrame:
    """The rows of `flagged` (a mask) with the chosen review status, highest score first (ties by sample id)."""
    mask = flagged.copy()
    if status == UNREVIEWED:
        mask &= decided == ""
    elif status == REVIEWED:
        mask &= decided != ""
    chosen = frame[mask]
    order = np.lexsort((chosen[schema.SAMPLE_ID].to_numpy(), -chosen[score_column].to_numpy(np.float64)))
    return chosen.iloc[order]


def labels_of(decisions: pd.DataFrame) -> dict:
    """{sample id: its decision's new label} of a decisions frame (core.run.reviews: None unless a relabel)."""
    return dict(zip(decisions[schema.SAMPLE_ID].astype(int).tolist(), decisions["new_label"].tolist()))


def visible_decisions(run_path: str, n_samples: int) -> tuple[np.ndarray, dict]:
    """(n,) decision per sample ('' = none) and {sample id: relabel label}: a signed-in annotator sees only its
    own votes (blind review), anyone else the store's decisions."""
    store = data.review_store(run_path)
    decisions = store.decisions()
    actor = auth.current_actor()
    if auth.signs_in() and actor is not None and actor.role == ANNOTATOR:
        decisions = consensus.votes_visible_to(store, actor.name).drop(columns="outcome")
    labels = labels_of(decisions)
    return decision_per_sample(decisions, n_samples), labels


def review_ui(run_path: str, reviewer: str, can_decide: bool) -> None:
    """The Flagged review page of a multilabel or regression run."""
    task = task_name(run_path)
    frame = data.samples(run_path)
    scores = schema.score_names(frame.columns)
    primary = data.flagging(run_path).detector
    left, right = st.columns(2)
    detector = left.selectbox("Flagged by", scores, index=scores.index(primary) if primary in scores else 0,
                              key="review_detector")
    status = right.segmented_control("Status", [UNREVIEWED, REVIEWED, ALL], default=ALL, key="review_status",
                                     required=True) or ALL
    score_column = schema.score_column(detector)
    budget = widgets.budget_ui(run_path, detector, "review_budget", "Review budget k: % of training samples flagged")
    flagged = data.flagged_mask(run_path, detector, budget)
    decided, labels = visible_decisions(run_path, len(frame))
    cols = st.columns(4)
    cols[0].metric("flagged", f"{int(flagged.sum()):,}")
    cols[1].metric("reviewed (flagged)", f"{int((decided[flagged] != '').sum()):,}")
    cols[2].metric("relabelled" if task == "multilabel" else "value set", f"{int((decided == RELABEL).sum()):,}")
    cols[3].metric("confirmed mislabeled", f"{int((decided == MISLABELED).sum()):,}")
    if task == "regression":
        with st.expander("Given vs predicted value (flagged in red)", expanded=True):
            st.plotly_chart(figures.given_vs_predicted_figure(
                frame[schema.GIVEN_VALUE].to_numpy(), frame[schema.PRED_VALUE].to_numpy(), flagged,
                frame[schema.SAMPLE_ID].to_numpy(), name=(data.class_names(run_path) or ["value"])[0]),
                key="given_vs_predicted")
    adjudication_ui(run_path)
    rows = matching(frame, flagged, decided, status, score_column)
    st.caption(f"{len(rows):,} flagged sample(s) match (top {budget:.1%} by {detector}, highest score first).")
    mode = st.segmented_control("Mode", [GRID, QUEUE], default=GRID, key="review_mode", required=True)
    if mode == QUEUE:
        queue_ui(run_path, rows, decided, task, reviewer, detector, score_column, decide=can_decide)
        return
    if can_decide:
        undo_ui(run_path, reviewer, st.columns([3, 1])[1])
    shown = rows.iloc[widgets.paginate_ui(len(rows), PER_PAGE, key="review_page")]
    grid_ui(run_path, shown, decided, labels, task, reviewer, detector, score_column, actions=can_decide)
    if not len(rows):
        st.info("No flagged sample matches these filters.")
