"""Flagged review: look at the flagged samples, highest score first, and decide about each.

Actions (per card, or in bulk on ticked cards / the whole page / every match of the
filters): confirm mislabeled, relabel to a class, keep (false alarm), clear. Each action
is one SQLite transaction in the run directory's reviews.sqlite, stamped with the
reviewer's name and the time. Exports: the review log and a cleaned manifest.

The test split can be reviewed too (`test samples`): when its labels were carved from the
same unverified labels as training, checking some of them gives an accuracy on labels a
person confirmed (test_reviews.sqlite; reported by the overview and `gradsift info`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from core.run import reviews, schema
from dashboard import data, figures, formatting, state, widgets

PER_PAGE = 24
COLUMNS = 6
UNREVIEWED, REVIEWED, ALL = "unreviewed", "reviewed", "all"
SCOPE_PICKED, SCOPE_PAGE, SCOPE_ALL = "selected samples", "this page", "every sample matching the filters"
TABLE_KEY = "review_table"
TABLE_VERSION = "review_table_version"  # bumped to give the table a fresh key: clears its row selection


def filters_ui(run_path: str, frame: pd.DataFrame, names: list[str]) -> tuple[str, list[int], str]:
    scores = schema.score_names(frame.columns)
    primary = data.manifest(run_path)["config"]["detect"]["primary"]
    left, middle, right = st.columns([1, 1.6, 1.4])
    detector = left.selectbox("Flagged by", scores, index=scores.index(primary) if primary in scores else 0,
                              key="review_detector")
    classes = middle.multiselect("Given label", list(range(len(names))), key="review_classes",
                                 format_func=lambda label: formatting.class_name(names, label),
                                 placeholder="all classes")
    status = right.segmented_control("Status", [UNREVIEWED, REVIEWED, ALL], default=ALL, key="review_status",
                                     required=True)
    return detector, classes, status or ALL


def matching(frame: pd.DataFrame, flagged: np.ndarray, decided: np.ndarray, classes: list[int], status: str,
             score_column: str) -> pd.DataFrame:
    """The flagged samples passing the filters, highest score first (vectorized masks)."""
    mask = flagged.copy()
    if classes:
        mask &= frame[schema.GIVEN_LABEL].isin(classes).to_numpy()
    if status == UNREVIEWED:
        mask &= decided == ""
    elif status == REVIEWED:
        mask &= decided != ""
    chosen = frame[mask]
    order = np.lexsort((chosen[schema.SAMPLE_ID].to_numpy(), -chosen[score_column].to_numpy(np.float64)))
    return chosen.iloc[order]


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
    st.markdown("#### Export")
    store = data.review_store(run_path)
    names = data.class_names(run_path)
    dataset_path = data.manifest(run_path)["config"]["data"]["dataset"]

    def history() -> bytes:
        return reviews.history_csv(store.history(), names)

    def cleaned() -> bytes:
        return reviews.cleaned_manifest(frame, store.decisions(), names, dataset_path).to_csv(index=False).encode()

    cols = st.columns(3)
    cols[0].download_button("Download review log (CSV)", history, file_name="reviews.csv", mime="text/csv",
                            key="export_history", on_click="ignore")
    cols[1].download_button("Download cleaned manifest (CSV)", cleaned, file_name="cleaned-manifest.csv",
                            mime="text/csv", key="export_manifest", on_click="ignore",
                            help="Confirmed-mislabeled samples removed, relabels applied.")
    if cols[2].button("Save both into the run directory", key="export_save",
                      help="Written under new names; an existing file is never overwritten."):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        written = [reviews.write_new_file(run_path, f"reviews-{stamp}", ".csv", history()),
                   reviews.write_new_file(run_path, f"cleaned-manifest-{stamp}", ".csv", cleaned())]
        st.success("Saved " + ", ".join(f"`{path}`" for path in written))


TEST_PER_PAGE = 18


def test_review_ui(run_path: str, names: list[str], reviewer: str) -> None:
    """Cards of test samples, those the model disagrees with most first; reviews go to the test store."""
    manifest = data.manifest(run_path)
    if manifest["dataset"].get("test_labels_verified"):
        st.info("This run's test labels are verified by their source; reviewing them is optional.")
    else:
        st.warning("This run's test labels were carved from the same unverified labels as training: confirm or "
                   "correct some, and accuracy is also reported on the reviewed ones.")
    table = data.test_table(run_path).sort_values(["test_label_prob", "test_id"])
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
    texts = data.test_texts(run_path)
    columns = widgets.TEXT_COLUMNS if texts is not None else COLUMNS
    for start in range(0, len(records), columns):
        for cell, record in zip(st.columns(columns), records[start:start + columns]):
            test_id = int(record["test_id"])
            with cell.container(border=True):
                image = data.test_image(run_path, test_id, min_side=112)
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
    if st.segmented_control("Review", ["flagged training samples", "test samples"], default="flagged training samples",
                            key="review_split", required=True) == "test samples":
        test_review_ui(run_path, data.class_names(run_path), state.current_reviewer())
        return
    frame = data.samples(run_path)
    names = data.class_names(run_path)
    reviewer = state.current_reviewer()
    if not reviewer:
        st.warning("Type your name in the sidebar (**Reviewer name**) to record decisions.")

    detector, classes, status = filters_ui(run_path, frame, names)
    score_column = schema.score_column(detector)
    flagged = data.flagged_mask(run_path, detector)
    store = data.review_store(run_path)
    decisions = store.decisions()
    decided = reviews.decision_per_sample(decisions, len(frame))
    relabels = dict(zip(decisions[schema.SAMPLE_ID].to_numpy().tolist(),
                        decisions[reviews.NEW_LABEL].fillna(-1).to_numpy(dtype=np.int64).tolist()))
    progress_ui(run_path, frame, flagged, decisions)

    rows = matching(frame, flagged, decided, classes, status, score_column)
    st.caption(f"{len(rows):,} flagged sample(s) match (top {data.config_budget(run_path):.1%} by {detector}, "
               "highest score first).")
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
        bulk_ui(run_path, names, reviewer, detector, page_ids, all_ids, picked, untick)
        widgets.sample_grid_ui(run_path, shown, key_prefix="review", columns=COLUMNS, score_column=score_column,
                                 decisions=decided, new_labels=relabels, reviewer=reviewer, detector=detector,
                                 actions=True)
    else:
        picked = tabular_ui(run_path, shown, frame, flagged, decided, score_column, names)

        def clear_selection() -> None:
            st.session_state[TABLE_VERSION] = st.session_state.get(TABLE_VERSION, 0) + 1

        bulk_ui(run_path, names, reviewer, detector, page_ids, all_ids, picked, clear_selection)
    if not len(rows):
        st.info("No flagged sample matches these filters.")
    st.divider()
    exports_ui(run_path, frame)


main()
