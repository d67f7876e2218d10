"""Gradient space: a 2-D map of every sample's gradient, coloured by score, flags or labels.

Box or lasso points on the map to see those samples below (thumbnails for image data, a
table of their texts for text data, their place in feature space and a table for tabular data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.run import schema
from dashboard import data, figures, formatting, kinds, state, widgets

MAP_KEY = "gradient_map"
STORED, PCA, FEATURES = "stored", "pca", "features"
GRID_PER_PAGE = 36


def map_coordinates(run_path: str, frame, choice: str) -> tuple[np.ndarray, np.ndarray, str]:
    if choice == PCA:
        coords = data.gradient_pca(run_path)
        return coords[:, 0], coords[:, 1], "PCA"
    if choice == FEATURES:
        return frame[schema.FEATURE_X].to_numpy(), frame[schema.FEATURE_Y].to_numpy(), "feature"
    method = data.manifest(run_path).get("embedding", {}).get("method", "umap").upper()
    return frame[schema.UMAP_X].to_numpy(), frame[schema.UMAP_Y].to_numpy(), method


def text_table(rows, score_column: str, names: list[str], truth: bool):
    """The selected samples of a text run as a table: id, labels, score and the text (cells are plain text)."""
    table = pd.DataFrame({"sample": rows[schema.SAMPLE_ID].to_numpy(),
                          "given": [formatting.class_name(names, v) for v in rows[schema.GIVEN_LABEL]]})
    if truth:
        table["true"] = [formatting.class_name(names, v) for v in rows[schema.TRUE_LABEL]]
    table["predicted"] = [formatting.class_name(names, v) for v in rows[schema.PRED_LABEL]]
    table["score"] = rows[score_column].to_numpy()
    table["text"] = rows[schema.TEXT].astype(str).to_numpy()
    return table


def selection_ui(run_path: str, frame, ids: list[int], score_column: str, flagged: np.ndarray) -> None:
    chosen = frame.iloc[ids] if len(ids) else frame.iloc[:0]
    st.markdown(f"#### {len(ids):,} selected sample(s)")
    if not len(ids):
        st.caption("Use the box or lasso tool on the map to select samples.")
        return
    truth = data.has_truth(chosen)
    facts = [f"flagged: {int(flagged[ids].sum())}"]
    if truth:
        facts.append(f"truly noisy: {int(chosen[schema.IS_NOISY].sum())}")
    facts.append(f"mean {score_column.removeprefix(schema.SCORE_PREFIX)} score: {chosen[score_column].mean():.4g}")
    st.caption(" · ".join(facts))
    ordered = chosen.sort_values(score_column, ascending=False)
    task = kinds.task_name(run_path)
    if task != kinds.CLASSIFICATION:  # tags or values: their cards, without actions
        page = widgets.paginate_ui(len(ordered), GRID_PER_PAGE, key="map_grid_page")
        kinds.grid_ui(run_path, ordered.iloc[page], data.decisions_array(run_path), {}, task,
                      "", None, score_column, actions=False)
    elif data.is_image_run(run_path):
        page = widgets.paginate_ui(len(ordered), GRID_PER_PAGE, key="map_grid_page")
        widgets.sample_grid_ui(run_path, ordered.iloc[page], key_prefix="map", columns=6,
                               score_column=score_column)
    elif data.is_text_run(run_path):
        st.dataframe(text_table(ordered.head(1000), score_column, data.class_names(run_path), truth),
                     hide_index=True, column_config={"text": st.column_config.TextColumn(width="large")})
    else:
        highlight = ordered[schema.SAMPLE_ID].to_numpy()
        custom, hover = figures.hover_data(frame, score_column)
        st.plotly_chart(figures.scatter_figure(
            frame[schema.FEATURE_X].to_numpy(), frame[schema.FEATURE_Y].to_numpy(), custom,
            color=flagged.astype(np.int64), categories=("no", "yes"), color_title="flagged", hover_names=hover,
            highlight=highlight, x_title="feature x", y_title="feature y", height=380, keep=flagged),
            key="map_features")
        columns = [schema.SAMPLE_ID, schema.SOURCE, schema.GIVEN_LABEL, schema.PRED_LABEL, score_column,
                   schema.FEATURE_X, schema.FEATURE_Y]
        if truth:
            columns[3:3] = [schema.TRUE_LABEL, schema.IS_NOISY]
        st.dataframe(ordered[columns].head(1000), hide_index=True)
    picked = st.selectbox("Open a selected sample in Sample detail", ordered[schema.SAMPLE_ID].tolist()[:1000],
                          key="map_open_choice")
    if st.button("Open sample", key="map_open"):
        state.open_detail(int(picked))


@widgets.page
def main() -> None:
    st.title("Gradient space")
    run_path = widgets.require_run()
    task = kinds.task_name(run_path)
    frame = data.samples(run_path)
    names = data.class_names(run_path)
    truth = data.has_truth(frame)
    scores = schema.score_names(frame.columns)
    primary = data.flagging(run_path).detector

    left, middle, right = st.columns([1.4, 1, 1])
    embed_method = data.manifest(run_path).get("embedding", {}).get("method", "umap").upper()
    choice = left.segmented_control(
        "Map", [STORED, PCA, FEATURES], default=STORED, key="map_kind", required=True,
        format_func={STORED: f"stored map ({embed_method})", PCA: "PCA of gradients", FEATURES: "input features"}.get)
    colour = middle.selectbox("Colour by", figures.colour_options(truth, task), key="map_colour")
    detector = right.selectbox("Score / flags of", scores, index=scores.index(primary) if primary in scores else 0,
                               key="map_detector")
    score_column = schema.score_column(detector)
    flagged = data.flagged_mask(run_path, detector)
    decisions = data.decisions_array(run_path) if colour == figures.COLOUR_REVIEW else None

    x, y, axis = map_coordinates(run_path, frame, choice or STORED)
    values, categories, title = figures.colour_values(frame, colour, names, score_column=score_column,
                                                         flagged=flagged, decisions=decisions)
    custom, hover = figures.hover_data(frame, score_column)
    figure = figures.scatter_figure(x, y, custom, color=values, categories=categories, color_title=title,
                                       hover_names=hover, x_title=f"{axis} 1", y_title=f"{axis} 2",
                                       marker_size=4 if len(frame) > 20_000 else 6, keep=flagged,
                                       hover_text=data.hover_texts(run_path))
    event = st.plotly_chart(figure, key=MAP_KEY, on_select="rerun", selection_mode=("box", "lasso"))
    st.caption(f"{len(frame):,} samples; flagged = top {data.flagging(run_path).budget:.1%} by {detector}. "
               f"Higher scores = more outlying. {figures.drawn_note(len(frame))}")
    ids = [i for i in figures.selected_ids(event) if 0 <= i < len(frame)]
    selection_ui(run_path, frame, ids, score_column, flagged)


main()
