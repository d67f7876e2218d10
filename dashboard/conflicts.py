"""Near-duplicates with conflicting labels, next to the flagged set on the Flagged review page.

Pairs of training samples whose penultimate features nearly coincide but whose given labels differ
(core.review.duplicates: another class, another tag set, values further apart than the tolerance): the search
runs in a background job (core.review.conflicts writes conflicts.parquet); this view reads the stored pairs and
shows them side by side, each sample with its labels, primary score, review state, a review menu and a link to
Sample detail. Multi-label and regression runs show the samples as their own review cards (dashboard.kinds: tag
chips or values, "Edit tags" / "Set value", reviews recorded as tag-set or value relabels).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from core.review.config import ConflictConfig
from core.review.duplicates import DISTANCE, SAMPLE_A, SAMPLE_B
from core.run import schema
from dashboard import auth, data, formatting, jobs, kinds, widgets
from dashboard.state import open_detail

CONFLICT_JOBS = "conflict_jobs"
PAIRS_PER_PAGE = 8
PAIRS_PER_ROW = 2


def search_form_ui(run_path: str, label: str) -> None:
    """The search settings in a form: nothing runs until the button is pressed."""
    defaults = ConflictConfig()
    with st.form("conflict_form"):
        cols = st.columns(3)
        neighbors = cols[0].number_input("Neighbours per sample", 1, 50, defaults.neighbors, key="conflict_neighbors")
        quantile = cols[1].slider("Nearer than this quantile of nearest-neighbour distances", 0.05, 1.0,
                                  defaults.distance_quantile, 0.05, key="conflict_quantile")
        metric = cols[2].selectbox("Distance", ["cosine", "euclidean"], key="conflict_metric")
        pressed = st.form_submit_button(label, type="primary")
    if pressed:
        if jobs.running_job_for(run_path, "conflicts") is not None:
            st.warning("A near-duplicate search of this run is already running; wait for it to finish.")
            return
        config = ConflictConfig(neighbors=int(neighbors), metric=metric, distance_quantile=float(quantile),
                                max_queries=defaults.max_queries)
        job = jobs.start_job("conflicts", "near-duplicate search", run_path, jobs.conflicts_work(run_path, config),
                             actor=auth.current_actor())
        st.session_state.setdefault(CONFLICT_JOBS, []).append(job.id)
        time.sleep(0.2)


def _sample_ui(run_path: str, record: dict, names: list[str], truth_known: bool, decided: np.ndarray,
               picture: np.ndarray | None, score_column: str, reviewer: str, key: str) -> None:
    sample_id = int(record[schema.SAMPLE_ID])
    if picture is not None:
        st.image(formatting.as_image(picture), width="stretch")
    st.markdown(formatting.labels_markdown(record, names, truth_known))
    st.caption(f"#{sample_id} · {record[score_column]:.3g}" + (" · flagged" if record[schema.IS_FLAGGED] else ""))
    widgets.decision_badge_ui(decided[sample_id], None, names)
    widgets.review_menu_ui(run_path, sample_id, names, reviewer, key_prefix=f"{key}_menu")
    if st.button("details", key=f"{key}_detail_{sample_id}", type="tertiary"):
        open_detail(sample_id)


def _kind_sample_ui(run_path: str, record: dict, names: list[str], task: str, truth_known: bool, decided: np.ndarray,
                    labels: dict, score_column: str, reviewer: str, key: str) -> None:
    sample_id = int(record[schema.SAMPLE_ID])
    if record[schema.IS_FLAGGED]:
        st.badge("flagged", color="red")
    kinds.sample_card_ui(run_path, record, names, task, truth_known, decided[sample_id], labels.get(sample_id),
                         reviewer, score_column.removeprefix(schema.SCORE_PREFIX), score_column, actions=True,
                         key=key)


def pairs_ui(run_path: str, frame: pd.DataFrame, pairs: pd.DataFrame, names: list[str], reviewer: str,
             score_column: str) -> None:
    """One page of pairs, closest first: two cards per pair."""
    task = kinds.task_name(run_path)
    decided, labels = kinds.visible_decisions(run_path, len(frame)) if task != kinds.CLASSIFICATION else \
        (data.decisions_array(run_path), {})
    truth_known = data.has_truth(frame)
    shown = pairs.iloc[widgets.paginate_ui(len(pairs), PAIRS_PER_PAGE, key="conflict_page")]
    ids = np.concatenate([shown[SAMPLE_A].to_numpy(), shown[SAMPLE_B].to_numpy()]).astype(np.int64)
    records = frame.set_index(schema.SAMPLE_ID, drop=False).loc[ids].to_dict("records")
    pictures = data.images(run_path, frame[schema.THUMBNAIL_ROW].to_numpy(np.int64)[ids], min_side=112) \
        if data.is_image_run(run_path) and task == kinds.CLASSIFICATION else [None] * len(ids)
    half = len(shown)
    for start in range(0, half, PAIRS_PER_ROW):
        for cell, position in zip(st.columns(PAIRS_PER_ROW), range(start, min(start + PAIRS_PER_ROW, half))):
            with cell.container(border=True):
                st.caption(f"distance {shown[DISTANCE].iloc[position]:.3g}")
                left, right = st.columns(2)
                for side, index in ((left, position), (right, half + position)):
                    with side:
                        if task == kinds.CLASSIFICATION:
                            _sample_ui(run_path, records[index], names, truth_known, decided, pictures[index],
                                       score_column, reviewer, key=f"conflict_{position}")
                        else:
                            _kind_sample_ui(run_path, records[index], names, task, truth_known, decided, labels,
                                            score_column, reviewer, key=f"conflict_{position}")


def conflict_rule(facts: dict) -> str:
    """What made the stored pairs conflict, in words (the facts of a search before task kinds name no task)."""
    task = facts.get("task", kinds.CLASSIFICATION)
    if task == "regression":
        return f"given values more than {facts['tolerance']:.3g} apart (the team consensus's agreement tolerance)"
    return "different given tag sets" if task == "multilabel" else "different given classes"


def conflicts_ui(run_path: str, reviewer: str) -> None:
    """The near-duplicate view: the search form, its progress, and the stored pairs."""
    frame = data.samples(run_path)
    names = data.class_names(run_path)
    stored = data.conflicts(run_path)
    st.caption("Training samples whose penultimate features nearly coincide but whose given labels differ (another "
               "class or tag set; values further apart than the agreement tolerance): at least one of each pair is "
               "probably mislabeled (docs/review-loop.md measures how often).")
    search_form_ui(run_path, "Search again" if stored is not None else "Find conflicting near-duplicates")
    widgets.job_progress_ui(CONFLICT_JOBS)
    if stored is None:
        st.info("No search yet: press *Find conflicting near-duplicates* (seconds on tens of thousands of samples).")
        return
    pairs, facts = stored
    flagged = frame[schema.IS_FLAGGED].to_numpy(bool)
    only_flagged = st.toggle("Only pairs with a flagged sample", key="conflict_only_flagged")
    if only_flagged:
        pairs = pairs[flagged[pairs[SAMPLE_A].to_numpy()] | flagged[pairs[SAMPLE_B].to_numpy()]]
    st.caption(f"{len(pairs):,} pair(s) with {conflict_rule(facts)} · {facts['metric']} distance ≤ "
               f"{facts['threshold']:.3g} (the "
               f"{facts['distance_quantile']:g} quantile of nearest-neighbour distances), {facts['neighbors']} "
               f"neighbour(s) of each of {facts['n_queries']:,} samples, searched {facts['created']}")
    if not len(pairs):
        st.info("No conflicting pair matches.")
        return
    primary = data.flagging(run_path).detector
    pairs_ui(run_path, frame, pairs, names, reviewer, schema.score_column(primary))
