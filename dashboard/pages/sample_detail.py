"""Sample detail: one training sample (its image or its whole text), its labels, every score with its
rank, its review history, and its nearest neighbours in gradient space (their images or texts). Tag and value runs
show their labels, actions and neighbours through dashboard.kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.run import reviews, schema
from dashboard import data, figures, formatting, kinds, state, widgets

INPUT_KEY = "detail_sample_input"
NEIGHBOURS = 12


def chosen_sample(n: int) -> int:
    """The sample id: from the number field, else the last click on another page, else 0."""

    def keep() -> None:
        st.session_state[state.DETAIL_KEY] = int(st.session_state[INPUT_KEY])

    current = int(st.session_state.get(state.DETAIL_KEY, 0))
    current = min(max(current, 0), n - 1)
    st.session_state[state.DETAIL_KEY] = current
    st.number_input(f"Sample id (0–{n - 1})", 0, n - 1, value=current, step=1, key=INPUT_KEY, on_change=keep,
                    width=240)
    return int(st.session_state[state.DETAIL_KEY])


def scores_ui(run_path: str, frame: pd.DataFrame, sample_id: int) -> None:
    ranks = data.ranks(run_path)
    decision = data.flagging(run_path)
    budget, cutoff = decision.budget, decision.count
    rows = []
    for name in schema.score_names(frame.columns):
        rank = int(ranks[name].iloc[sample_id])
        rows.append({"method": name, "score": float(frame[schema.score_column(name)].iloc[sample_id]),
                     "rank": rank, "top %": 100 * rank / len(frame), f"flagged at k={budget:.1%}": rank <= cutoff})
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=formatting.table_height(len(rows)),
                 column_config={"score": st.column_config.NumberColumn(format="%.5g"),
                                "top %": st.column_config.NumberColumn(format="%.2f%%")})
    st.caption("Rank 1 = most outlying / harmful; higher scores = more outlying.")


def neighbours_ui(run_path: str, frame: pd.DataFrame, sample_id: int) -> None:
    metric = st.segmented_control("Distance", ["cosine", "euclidean"], default="cosine", key="detail_metric",
                                  required=True) or "cosine"
    ids, distances = data.neighbors(run_path, sample_id, NEIGHBOURS, metric)
    st.markdown(f"#### {len(ids)} nearest neighbours in gradient space ({metric})")
    neighbours = frame.iloc[ids]
    if data.shows_cards(run_path):
        primary = data.flagging(run_path).detector
        widgets.sample_grid_ui(run_path, neighbours, key_prefix="neighbour", columns=6,
                               score_column=schema.score_column(primary))
    else:
        custom, hover = figures.hover_data(frame, None)
        st.plotly_chart(figures.scatter_figure(
            frame[schema.FEATURE_X].to_numpy(), frame[schema.FEATURE_Y].to_numpy(), custom,
            color=figures.label_codes(frame[schema.GIVEN_LABEL]), categories=data.class_names(run_path),
            color_title="given label", hover_names=hover, highlight=np.append(ids, sample_id),
            x_title="feature x", y_title="feature y", height=420), key="detail_features")
        st.caption("Rings: this sample and its gradient-space neighbours, in feature space.")
    table = pd.DataFrame({"sample": ids, "distance": distances,
                          "given": neighbours[schema.GIVEN_LABEL].to_numpy(),
                          "predicted": neighbours[schema.PRED_LABEL].to_numpy()})
    if data.has_truth(frame):
        table["true"] = neighbours[schema.TRUE_LABEL].to_numpy()
    if data.is_text_run(run_path):
        table["text"] = neighbours[schema.TEXT].astype(str).to_numpy()
    st.dataframe(table, hide_index=True, column_config={"distance": st.column_config.NumberColumn(format="%.4f")})


@widgets.page
def main() -> None:
    st.title("Sample detail")
    run_path = widgets.require_run()
    by_class = kinds.task_name(run_path) == kinds.CLASSIFICATION
    frame = data.samples(run_path)
    names = data.class_names(run_path)
    sample_id = chosen_sample(len(frame))
    row = frame.iloc[sample_id].to_dict()
    truth = data.has_truth(frame)

    left, right = st.columns([1, 2])
    with left:
        if data.is_image_run(run_path) and not pd.isna(row[schema.THUMBNAIL_ROW]):
            image = data.images(run_path, np.array([row[schema.THUMBNAIL_ROW]]), min_side=224)[0]
            st.image(formatting.as_image(image), width=224)
        elif data.is_text_run(run_path):
            st.text(str(row[schema.TEXT]), width="stretch")
        else:
            st.caption("Tabular sample: features in the table below.")
    with right:
        if not by_class:  # tags or values (dashboard.kinds)
            kinds.detail_ui(run_path, row, truth)
    if not by_class:
        scores_ui(run_path, frame, sample_id)
        kinds.neighbours_ui(run_path, frame, sample_id, NEIGHBOURS)
        return
    with right:
        st.markdown(formatting.labels_markdown(row, names, truth))
        facts = [f"source {formatting.escape_markdown(row[schema.SOURCE])}",
                 f"confidence {row[schema.CONFIDENCE]:.3f}",
                 f"p(given label) {row[schema.GIVEN_PROB]:.3f}", f"loss {row[schema.LOSS]:.3f}",
                 f"gradient L2 {row[schema.GRAD_L2]:.4g}"]
        if truth:
            facts.append("**truly noisy**" if row[schema.IS_NOISY] else "label correct")
        st.markdown(" · ".join(facts))
        store = data.review_store(run_path)
        history = store.history()
        history = history[history[schema.SAMPLE_ID] == sample_id]
        reviewer = state.current_reviewer()
        widgets.review_menu_ui(run_path, sample_id, names, reviewer, key_prefix="detail_review")
        if len(history):
            last = history.iloc[-1]
            widgets.decision_badge_ui(last[reviews.ACTION], last[reviews.NEW_LABEL], names)
            st.dataframe(history[[reviews.ACTION, reviews.NEW_LABEL, reviews.REVIEWER, reviews.CREATED]],
                         hide_index=True)
        elif not reviewer:
            st.caption("Type your name in the sidebar to review this sample.")
    scores_ui(run_path, frame, sample_id)
    if not data.shows_cards(run_path):
        st.dataframe(pd.DataFrame([{schema.FEATURE_X: row[schema.FEATURE_X], schema.FEATURE_Y: row[schema.FEATURE_Y]}]),
                     hide_index=True)
    neighbours_ui(run_path, frame, sample_id)


main()
