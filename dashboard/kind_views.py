"""The Flagged review page of a multi-label or regression run: its views, the flagged training samples
(dashboard.kinds.review_ui) and the test samples (`test_review_ui`), chosen as on a classification run.

The test samples: each test sample's label against the model's prediction. When a run's test labels were carved
from the same unverified labels as training, a person can check some of them, as on a classification run
(dashboard/pages/flagged_review.py `test_review_ui`). The rows come from core (core.evaluate.test_predictions via
dashboard.test_data: true and predicted tags, or values and the residual), the worst first (the most tags off
first; values by the largest |residual|). Decisions go to the test split's review store (core.run.reviews,
`test_reviews.sqlite`), whose label form and given labels are the run's (a tag set or a value: core.run.label_forms
reads the test labels), through the same card actions as the training samples (dashboard.kinds.edit_ui: edit tags
/ set value, accept the prediction, mislabeled, keep, clear).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.auth.roles import allowed
from core.evaluate.test_predictions import EXACT, TEST_ID
from core.run import schema
from core.run.reviews import decision_per_sample
from dashboard import auth, conflicts, data, formatting, kinds, team_review, test_data, widgets

PER_PAGE = 12
COLUMNS = 4
KEY = "kind_test"
FLAGGED_VIEW, CONFLICTS_VIEW, TEST_VIEW = "flagged training samples", "near-duplicate conflicts", "test samples"
"""The Flagged review page's views (dashboard/pages/flagged_review.py uses the same names)."""


def ordered(table: pd.DataFrame, task: str) -> pd.DataFrame:
    """The test rows worst first: tag sets with the most tags off (wrong sets before right ones), or values by the
    largest |residual|; ties by test id."""
    if task == "multilabel":
        off = np.array([len(set(true) ^ set(pred)) for true, pred in zip(table[schema.TRUE_TAGS],
                                                                          table[schema.PRED_TAGS])])
    else:
        off = np.abs(table[schema.RESIDUAL_VALUE].to_numpy(np.float64))
    return table.iloc[np.lexsort((table[TEST_ID].to_numpy(), -off))]


def card_record(row: dict, task: str) -> dict:
    """A test row in the shape dashboard.kinds.edit_ui reads: the test label as the given one, the model's
    prediction as the suggestion."""
    if task == "multilabel":
        return {schema.SAMPLE_ID: int(row[TEST_ID]), schema.GIVEN_TAGS: formatting.as_tags(row[schema.TRUE_TAGS]),
                schema.SUGGESTED_TAGS: formatting.as_tags(row[schema.PRED_TAGS])}
    return {schema.SAMPLE_ID: int(row[TEST_ID]), schema.GIVEN_VALUE: float(row[schema.TRUE_VALUE]),
            schema.SUGGESTED_VALUE: float(row[schema.PRED_VALUE])}


def _labels_ui(row: dict, task: str, names: list[str]) -> None:
    if task == "multilabel":
        true = formatting.as_tags(row[schema.TRUE_TAGS])
        st.markdown("test label: " + formatting.tag_chips(true, None, names))
        st.markdown("predicted: " + formatting.tag_chips(true, formatting.as_tags(row[schema.PRED_TAGS]), names))
    else:
        st.markdown(f":red[test value **{row[schema.TRUE_VALUE]:.6g}**]  \n"
                    f"pred {row[schema.PRED_VALUE]:.6g} · residual {row[schema.RESIDUAL_VALUE]:+.4g}")


def test_review_ui(run_path: str, task: str, reviewer: str, can_decide: bool) -> None:
    """Cards of the test samples, worst predicted first; the decisions go to the test review store."""
    table = test_data.test_predictions(run_path)
    if table is None:
        st.info("This run holds no test predictions in its task's form: there are no test samples to review.")
        return
    if data.manifest(run_path)["dataset"].get("test_labels_verified"):
        st.info("This run's test labels are verified by their source; reviewing them is optional.")
    store = data.review_store(run_path, "test")
    decisions = store.decisions()
    decided = decision_per_sample(decisions, len(table))
    labels = kinds.labels_of(decisions)
    wrong = int((~table[EXACT].to_numpy(bool)).sum()) if task == "multilabel" else None
    st.caption(f"{len(table):,} test samples, worst predicted first · {len(decisions)} reviewed"
               + (f" · {wrong:,} tag set(s) predicted wrong" if wrong is not None else ""))
    rows = ordered(table, task)
    records = rows.iloc[widgets.paginate_ui(len(rows), PER_PAGE, key=f"{KEY}_page")].to_dict("records")
    names = data.class_names(run_path)
    for start in range(0, len(records), COLUMNS):
        for cell, row in zip(st.columns(COLUMNS), records[start:start + COLUMNS]):
            record = card_record(row, task)
            test_id = record[schema.SAMPLE_ID]
            with cell.container(border=True):
                image = test_data.test_image(run_path, test_id, min_side=112)
                if image is not None:
                    st.image(formatting.as_image(image), width="stretch")
                _labels_ui(row, task, names)
                st.caption(f"test #{test_id}")
                given = record.get(schema.GIVEN_TAGS)
                kinds.decision_ui(decided[test_id], labels.get(test_id), given, names)
                if can_decide:
                    kinds.edit_ui(run_path, record, names, task, reviewer, None, key=KEY, split="test")


def review_views_ui(run_path: str, reviewer: str, can_decide: bool) -> None:
    """The page's views: the flagged training samples (with the team settings above them for a signed-in lead: a
    gold label is a tag set or a value here), the near-duplicate conflicts (dashboard.conflicts), and the test
    samples when the run holds test predictions in its task's form."""
    task = kinds.task_name(run_path)
    views = [FLAGGED_VIEW, CONFLICTS_VIEW] + ([TEST_VIEW] if test_data.test_predictions(run_path) is not None else [])
    view = st.segmented_control("Review", views, default=FLAGGED_VIEW, key="review_split", required=True)
    if view == TEST_VIEW:
        test_review_ui(run_path, task, reviewer, can_decide)
        return
    if view == CONFLICTS_VIEW:
        conflicts.conflicts_ui(run_path, reviewer)
        return
    actor = auth.current_actor()
    if auth.signs_in() and actor is not None and allowed(actor, "set_gold"):  # the store checks the role again
        with st.expander("Team settings: overlap, lease, gold samples", expanded=False):
            team_review.settings_ui(run_path, data.class_names(run_path))
    kinds.review_ui(run_path, reviewer, can_decide)
