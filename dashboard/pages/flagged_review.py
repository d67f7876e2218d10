"""Flagged review: look at the flagged samples, highest score first, and decide about each.

The review budget starts at the run's and marks the suggested one (the estimated noise rate)
with the estimated precision at the chosen k. A given × suggested label heat map of the flagged
set opens the samples of one cell when it is clicked. Two ways to review: the grid (actions per
card, including accepting the suggested label in one click, or in bulk on ticked cards / the
whole page / every match of the filters) and the keyboard queue (dashboard.queue: one sample
at a time, one key per decision, undo). Actions: confirm mislabeled, relabel to a class, keep
(false alarm), clear; each is one SQLite transaction in the run directory's reviews.sqlite,
stamped with the reviewer's name and the time. Exports: the review log and a cleaned manifest.

The review loop: *Re-rank with my decisions* applies the decisions so far and re-ranks the unreviewed
samples (core.review.rerank, a background job), re-estimating the wrong labels left; the queue can then
be ordered by the re-ranked score (dashboard.loop). *Near-duplicate conflicts* lists pairs of near-identical
samples whose given labels differ (dashboard.conflicts); multi-label and regression runs have the same switch
between their flagged cards (dashboard.kinds) and the conflicts.

The test split can be reviewed too (`test samples`): when its labels were carved from the
same unverified labels as training, checking some of them gives an accuracy on labels a
person confirmed (test_reviews.sqlite; reported by the overview and `gradsift info`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from core.auth.roles import ANNOTATOR, allowed
from core.errors import GradsiftError
from core.export import downloads
from core.export import manifest as manifest_export
from core.run import reviews, schema
from dashboard import (
    auth,
    conflicts,
    data,
    figures,
    formatting,
    kind_views,
    kinds,
    loop,
    state,
    team_review,
    test_data,
    widgets,
)
from dashboard.kind_views import CONFLICTS_VIEW, FLAGGED_VIEW, TEST_VIEW
from dashboard.kinds import ALL, REVIEWED, UNREVIEWED
from dashboard.queue import queue_ui, undo_ui

PER_PAGE = 24
COLUMNS = 6
SCOPE_PICKED, SCOPE_PAGE, SCOPE_ALL = "selected samples", "this page", "every sample matching the filters"
ADJUDICATION_VIEW = "adjudication (team)"
TABLE_KEY = "review_table"
TABLE_VERSION = "review_table_version"  # bumped to give the table a fresh key: clears its row selection
LOG, CLEANED = "reviews.csv", "cleaned-manifest.csv"
PAIR_CHART = "pair_matrix"
PAIR_VERSION = "pair_matrix_version"  # bumped to clear the heat map's selection (its key is f"{PAIR_CHART}_{version}")
BUDGET_KEY = "review_budget"
GRID, QUEUE = "grid", "queue (keyboard)"


def filters_ui(run_path: str, frame: pd.DataFrame, names: list[str]) -> tuple[str, list[int], str]:
    scores = schema.score_names(frame.columns)
    primary = data.flagging(run_path).detector
    left, middle, right = st.columns([1, 1.6, 1.4])
    detector = left.selectbox("Flagged by", scores, index=scores.index(primary) if primary in scores else 0,
                              key="review_detector")
    classes = middle.multiselect("Given label", list(range(len(names))), key="review_classes",
                                 format_func=lambda label: formatting.class_name(names, label),
                                 placeholder="all classes")
    status = right.segmented_control("Status", [UNREVIEWED, REVIEWED, ALL], default=ALL, key="review_status",
                                     required=True)
    return detector, classes, status or ALL


def pair_ui(frame: pd.DataFrame, flagged: np.ndarray, names: list[str], expanded: bool) -> tuple[int, int] | None:
    """The given × suggested heat map of the flagged samples; returns the clicked cell (given, suggested) or None."""
    chosen = frame[flagged]
    counts = figures.pair_counts(chosen[schema.GIVEN_LABEL].to_numpy(), chosen[schema.SUGGESTED_LABEL].to_numpy(),
                                 len(names))
    with st.expander("Given × suggested label of the flagged samples (click a cell to review it)", expanded=expanded):
        key = f"{PAIR_CHART}_{st.session_state.get(PAIR_VERSION, 0)}"
        event = st.plotly_chart(figures.pair_matrix_figure(counts, names), key=key, on_select="rerun",
                                selection_mode="points")
        pair = figures.selected_pair(event)
        if pair is not None:
            given, suggested = pair
            cols = st.columns([4, 1])
            cols[0].info(f"Showing the flagged samples given **{formatting.class_name(names, given)}** with suggested "
                         f"**{formatting.class_name(names, suggested)}**: {int(counts[given, suggested])}.")
            if cols[1].button("Show every pair", key="pair_clear"):
                st.session_state[PAIR_VERSION] = st.session_state.get(PAIR_VERSION, 0) + 1
                st.rerun()
    return pair


def matching(frame: pd.DataFrame, flagged: np.ndarray, decided: np.ndarray, classes: list[int], status: str,
             score_column: str, pair: tuple[int, int] | None = None) -> pd.DataFrame:
    """The flagged samples passing the filters (and the heat map's cell), highest score first (vectorized masks)."""
    mask = flagged.copy()
    if classes:
        mask &= frame[schema.GIVEN_LABEL].isin(classes).to_numpy()
    if pair is not None:
        mask &= ((frame[schema.GIVEN_LABEL].to_numpy() == pair[0])
                 & (frame[schema.SUGGESTED_LABEL].to_numpy() == pair[1]))
    return kinds.matching(frame, mask, decided, status, score_column)


def bulk_ui(run_path: str, names: list[str], reviewer: str, detector: str, page_ids: list[int],
            all_ids: list[int], picked: list[int], reset_picks) -> None:
    """Bulk actions on the ticked samples, the page, or every match; `reset_picks()` unticks after."""
    with st.container(border=True):
        cols = st.columns([2, 2, 2, 1])
        scope = cols[0].radio("Apply to", [SCOPE_PICKED, SCOPE_PAGE, SCOPE_ALL], key="bulk_scope",
                              captions=[f"{len(picked)} selected", f"{len(page_ids)} shown", f"{len(all_ids)}"])
        action = cols[1].selectbox("Action", [reviews.MISLABELED, reviews.RELABEL, reviews.KEEP, reviews.CLEAR],
                                   key="bulk_action",
                                   format_func=lambda a: widgets.ACTION_LABELS.get(a, "Relabel to…"))
        target = cols[2].selectbox("Relabel to", list(range(len(names))), key="bulk_target",
                                   format_func=lambda label: formatting.class_name(names, label),
                                   disabled=action != reviews.RELABEL)
        cols[3].space("small")
        apply = cols[3].button("Apply", key="bulk_apply", type="primary", disabled=not reviewer,
                               help=None if reviewer else "Type your name in the sidebar first")
    if apply:
        ids = {SCOPE_PICKED: picked, SCOPE_PAGE: page_ids, SCOPE_ALL: all_ids}[scope]
        if not ids:
            st.warning("No sample to apply the action to.")
            return
        new_label = int(target) if action == reviews.RELABEL else None
        if widgets.record_review(run_path, ids, action, new_label, reviewer, detector):
            reset_picks()
            time.sleep(0.1)
            st.rerun()


def progress_ui(run_path: str, frame: pd.DataFrame, flagged: np.ndarray, decisions: pd.DataFrame) -> None:
    decided = reviews.decision_per_sample(decisions, len(frame))
    counts = pd.Series(decided[decided != ""]).value_counts()
    cols = st.columns(5)
    cols[0].metric("flagged", f"{int(flagged.sum()):,}")
    cols[1].metric("reviewed (flagged)", f"{int((decided[flagged] != '').sum()):,}")
    cols[2].metric("confirmed mislabeled", f"{int(counts.get(reviews.MISLABELED, 0)):,}")
    cols[3].metric("relabelled", f"{int(counts.get(reviews.RELABEL, 0)):,}")
    cols[4].metric("kept", f"{int(counts.get(reviews.KEEP, 0)):,}")
    if data.has_truth(frame) and len(decisions):
        noisy = frame[schema.IS_NOISY].to_numpy(dtype=bool)
        said_wrong = np.isin(decided, [reviews.MISLABELED, reviews.RELABEL])
        said_ok = decided == reviews.KEEP
        agree = int((said_wrong & noisy).sum() + (said_ok & ~noisy).sum())
        st.caption(f"Agreement of the decisions with the known truth: {agree} of {int((decided != '').sum())}.")


def tabular_ui(run_path: str, rows: pd.DataFrame, frame: pd.DataFrame, flagged: np.ndarray, decided: np.ndarray,
               score_column: str, names: list[str]) -> list[int]:
    """Tabular runs: feature-space map of the flagged samples and a selectable table."""
    custom, hover = figures.hover_data(frame, score_column)
    values, categories, title = figures.colour_values(frame, figures.COLOUR_REVIEW, names,
                                                         score_column=score_column, flagged=flagged,
                                                         decisions=decided)
    st.plotly_chart(figures.scatter_figure(
        frame[schema.FEATURE_X].to_numpy(), frame[schema.FEATURE_Y].to_numpy(), custom, color=values,
        categories=categories, color_title=title, hover_names=hover,
        highlight=rows[schema.SAMPLE_ID].to_numpy(), x_title="feature x", y_title="feature y", height=400,
        keep=flagged),
        key="review_features")
    st.caption("Rings mark the flagged samples on this page; colours show review decisions.")
    table = pd.DataFrame({
        "sample": rows[schema.SAMPLE_ID].to_numpy(),
        "given": [formatting.class_name(names, v) for v in rows[schema.GIVEN_LABEL]],
        "predicted": [formatting.class_name(names, v) for v in rows[schema.PRED_LABEL]],
        "suggested": [formatting.class_name(names, v) for v in rows[schema.SUGGESTED_LABEL]],
        "suggestion confidence": rows[schema.SUGGESTED_LABEL_CONFIDENCE].to_numpy(),
        "score": rows[score_column].to_numpy(),
        "decision": decided[rows[schema.SAMPLE_ID].to_numpy()],
        "feature x": rows[schema.FEATURE_X].to_numpy(), "feature y": rows[schema.FEATURE_Y].to_numpy(),
    })
    if data.has_truth(rows):
        table.insert(2, "true", [formatting.class_name(names, v) for v in rows[schema.TRUE_LABEL]])
    key = f"{TABLE_KEY}_{st.session_state.get(TABLE_VERSION, 0)}"
    event = st.dataframe(table, hide_index=True, key=key, on_select="rerun", selection_mode="multi-row")
    positions = (event.get("selection", {}) if isinstance(event, dict) else event.selection).get("rows", [])
    return [int(table["sample"].iloc[p]) for p in positions if 0 <= p < len(table)]


def exports_ui(run_path: str, frame: pd.DataFrame) -> None:
    """The review log and the cleaned manifest: the export formats `gradsift export --format review-log|manifest`
    writes (core.export.downloads), downloaded or saved into the run directory under new names."""
    st.markdown("#### Export")
    if not auth.permitted_ui("export"):
        return
    run = data.manifest(run_path)
    with_images = manifest_export.writes_images(run["dataset"].get("kind"), run["config"]["data"]["dataset"],
                                                frame[schema.SOURCE])
    cols = st.columns(3)
    cols[0].download_button(
        "Download review log (CSV)",
        lambda: downloads.download(run_path, "review-log", LOG, actor=auth.current_actor()).data,
        file_name=LOG,
        mime="text/csv",
        key="export_history",
        on_click="ignore",
    )
    cols[1].download_button(
        "Download cleaned manifest (ZIP: CSV + images)" if with_images else "Download cleaned manifest (CSV)",
        lambda: downloads.download(run_path, "manifest", CLEANED, actor=auth.current_actor()).data,
        file_name=CLEANED.replace(".csv", ".zip") if with_images else CLEANED,
        mime="application/zip" if with_images else "text/csv", key="export_manifest", on_click="ignore",
        help="Confirmed-mislabeled samples removed, relabels applied: what `gradsift export --format manifest` "
             "writes, which `gradsift analyze --dataset` reads back.")
    if cols[2].button("Save both into the run directory", key="export_save",
                      help="Written under new names; an existing file is never overwritten."):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            actor = auth.current_actor()
            written = [downloads.save_new(run_path, "review-log", run_path, f"reviews-{stamp}", ".csv", actor=actor),
                       downloads.save_new(run_path, "manifest", run_path, f"cleaned-manifest-{stamp}", ".csv",
                                          actor=actor)]
        except GradsiftError as exc:
            st.error(str(exc))
            return
        st.success("Saved " + ", ".join(f"`{path}`" for saved in written for path in saved.paths))


TEST_PER_PAGE = 18


def test_review_ui(run_path: str, names: list[str], reviewer: str) -> None:
    """Cards of test samples, those the model disagrees with most first; reviews go to the test store."""
    manifest = data.manifest(run_path)
    if manifest["dataset"].get("test_labels_verified"):
        st.info("This run's test labels are verified by their source; reviewing them is optional.")
    else:
        st.warning("This run's test labels were carved from the same unverified labels as training: confirm or "
                   "correct some, and accuracy is also reported on the reviewed ones.")
    table = test_data.test_table(run_path).sort_values(["test_label_prob", "test_id"])
    store = data.review_store(run_path, "test")
    decisions = store.decisions()
    decided = reviews.decision_per_sample(decisions, len(table))
    reviewed = data.reviewed_test_accuracy(run_path)
    st.caption(f"{len(table):,} test samples, lowest probability of their test label first · "
               f"{len(decisions)} reviewed" + (f" · accuracy on the {reviewed['n_used']} reviewed with their "
                                               f"reviewed labels: {reviewed['accuracy']:.4f}"
                                               if reviewed and reviewed["accuracy"] is not None else ""))
    shown = table.iloc[widgets.paginate_ui(len(table), TEST_PER_PAGE, key="test_review_page")]
    records = shown.to_dict("records")
    texts = test_data.test_texts(run_path)
    columns = widgets.TEXT_COLUMNS if texts is not None else COLUMNS
    for start in range(0, len(records), columns):
        for cell, record in zip(st.columns(columns), records[start:start + columns]):
            test_id = int(record["test_id"])
            with cell.container(border=True):
                image = test_data.test_image(run_path, test_id, min_side=112)
                if image is not None:
                    st.image(formatting.as_image(image), width="stretch")
                if texts is not None:
                    widgets.text_ui(texts[test_id], key=f"test_review_full_{test_id}")
                label = formatting.escape_markdown(formatting.class_name(names, record["test_label"]))
                predicted = formatting.escape_markdown(formatting.class_name(names, record[schema.PRED_LABEL]))
                st.markdown(f":red[test label **{label}**]  \n"
                            f"pred {predicted}")
                st.caption(f"test #{test_id} · p(label) {record['test_label_prob']:.3g}")
                widgets.decision_badge_ui(decided[test_id], None, names)
                widgets.review_menu_ui(run_path, test_id, names, reviewer, key_prefix="test_review", split="test")


@widgets.page
def main() -> None:
    st.title("Flagged review")
    run_path = widgets.require_run()
    actor = auth.current_actor()
    if auth.signs_in() and actor is not None and actor.role == ANNOTATOR:
        team_review.annotator_ui(run_path, actor)  # the annotator's queue, card first (dashboard.team_review)
        return
    if kinds.task_name(run_path) != kinds.CLASSIFICATION:  # tags or values: their own cards, queue and actions
        can_decide = actor is not None and allowed(actor, "record_review")
        kind_views.review_views_ui(run_path, state.current_reviewer() if can_decide else "", can_decide)
        st.divider()
        exports_ui(run_path, data.samples(run_path))
        return
    views = [FLAGGED_VIEW, CONFLICTS_VIEW, TEST_VIEW]
    if auth.signs_in() and actor is not None and allowed(actor, "adjudicate"):
        views.append(ADJUDICATION_VIEW)
    view = st.segmented_control("Review", views, default=FLAGGED_VIEW, key="review_split", required=True)
    if view == ADJUDICATION_VIEW:
        team_review.lead_ui(run_path)
        return
    if view == TEST_VIEW:
        test_review_ui(run_path, data.class_names(run_path), state.current_reviewer())
        return
    if view == CONFLICTS_VIEW:
        conflicts.conflicts_ui(run_path, state.current_reviewer())
        return
    frame = data.samples(run_path)
    names = data.class_names(run_path)
    can_decide = actor is not None and allowed(actor, "record_review")
    reviewer = state.current_reviewer() if can_decide else ""
    if not can_decide:
        st.caption(f"Viewing as {actor}: the decisions can be read, not changed." if actor else "Nobody signed in.")
    elif not reviewer:
        st.warning("Type your name in the sidebar (**Reviewer name**) to record decisions.")

    detector, classes, status = filters_ui(run_path, frame, names)
    score_column = schema.score_column(detector)
    budget = widgets.budget_ui(run_path, detector, BUDGET_KEY, "Review budget k: % of training samples flagged")
    flagged = data.flagged_mask(run_path, detector, budget)
    store = data.review_store(run_path)
    resolution = store.resolution()
    decisions = resolution.decisions
    decided = reviews.decision_per_sample(decisions, len(frame))
    relabels = dict(zip(decisions[schema.SAMPLE_ID].to_numpy().tolist(),
                        decisions[reviews.NEW_LABEL].fillna(-1).to_numpy(dtype=np.int64).tolist()))
    progress_ui(run_path, frame, flagged, decisions)
    voters = resolution.votes[reviews.REVIEWER].nunique()
    if voters > 1 or auth.signs_in():
        st.caption(f"These counts are the consensus of {voters} annotator(s)' votes: "
                   f"{len(resolution.open_disagreements)} sample(s) whose votes disagree count as undecided until a "
                   "lead settles them (the Team page has each annotator's own decisions).")
    reranked = loop.rerank_ui(run_path, frame, decisions)

    mode = st.segmented_control("Mode", [GRID, QUEUE], default=GRID, key="review_mode", required=True)
    pair = pair_ui(frame, flagged, names, expanded=mode != QUEUE)
    if reranked is None:
        rows = matching(frame, flagged, decided, classes, status, score_column, pair)
        st.caption(f"{len(rows):,} flagged sample(s) match (top {budget:.1%} by {detector}, highest score first).")
    else:
        rows = loop.reranked_rows(frame, reranked, decided, classes, status, int(flagged.sum()))
        if pair is not None:
            rows = rows[(rows[schema.GIVEN_LABEL] == pair[0]) & (rows[schema.SUGGESTED_LABEL] == pair[1])]
        st.caption(f"{len(rows):,} sample(s) match: the {int(flagged.sum()):,} unreviewed samples ranked first by "
                   "the re-ranking, then the reviewed ones.")
    if mode == QUEUE:
        queue_ui(run_path, rows, decided, names, reviewer, detector, score_column, decide=can_decide)
        st.divider()
        exports_ui(run_path, frame)
        return
    if can_decide:
        undo_ui(run_path, reviewer, st.columns([3, 1])[1])
    page = widgets.paginate_ui(len(rows), PER_PAGE, key="review_page")
    shown = rows.iloc[page]
    page_ids = shown[schema.SAMPLE_ID].astype(int).tolist()
    all_ids = rows[schema.SAMPLE_ID].astype(int).tolist()
    if data.shows_cards(run_path):
        # The cards' checkboxes are read from session state before the grid draws them.
        pick_keys = {sid: f"review_pick_{sid}" for sid in page_ids}

        def untick() -> None:
            for key in pick_keys.values():
                st.session_state[key] = False

        picked = [sid for sid, key in pick_keys.items() if st.session_state.get(key)]
        if can_decide:
            bulk_ui(run_path, names, reviewer, detector, page_ids, all_ids, picked, untick)
        widgets.sample_grid_ui(run_path, shown, key_prefix="review", columns=COLUMNS, score_column=score_column,
                                 decisions=decided, new_labels=relabels, reviewer=reviewer, detector=detector,
                                 actions=can_decide)
    else:
        picked = tabular_ui(run_path, shown, frame, flagged, decided, score_column, names)

        def clear_selection() -> None:
            st.session_state[TABLE_VERSION] = st.session_state.get(TABLE_VERSION, 0) + 1

        if can_decide:
            bulk_ui(run_path, names, reviewer, detector, page_ids, all_ids, picked, clear_selection)
    if not len(rows):
        st.info("No flagged sample matches these filters.")
    st.divider()
    exports_ui(run_path, frame)


main()
