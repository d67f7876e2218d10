"""Test-sample explorer: which training samples shaped one test prediction.

Rankings come from core.influence.attribution: OGA with one Isolation Forest per class (class
first, then samples inside the class; and the reference code's class-level copy),
DataInf and gradient tracing, each with higher = more influential.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.influence.run_attribution import (
    INFLUENCE,
    METHOD,
    RANK,
    SAME_CLASS,
    TEST_LABEL,
    TEST_PRED,
)
from core.run import schema
from dashboard import data, figures, formatting, kinds, widgets

INPUT_KEY = "explorer_test_input"
TOP_K = 12


def top_table_ui(run_path: str, top: pd.DataFrame, names: list[str]) -> None:
    frame = data.samples(run_path)
    for method, part in top.groupby(METHOD, sort=False):
        st.markdown(f"**{method}** — {int(part[SAME_CLASS].sum())} of {len(part)} in the test sample's class")
        ids = part[schema.SAMPLE_ID].to_numpy()
        if data.is_image_run(run_path):
            rows = frame[schema.THUMBNAIL_ROW].to_numpy()[ids]
            images = data.images(run_path, rows.astype(np.int64), min_side=64)
            captions = [f"#{i} {names[g]} ({s:.3g})" for i, g, s in
                        zip(ids, part[schema.GIVEN_LABEL], part[INFLUENCE])]
            st.image([formatting.as_image(image) for image in images], caption=captions, width=72)
        table = part[[RANK, schema.SAMPLE_ID, schema.GIVEN_LABEL, INFLUENCE, SAME_CLASS]].copy()
        table[schema.GIVEN_LABEL] = [names[g] for g in table[schema.GIVEN_LABEL]]
        if data.is_text_run(run_path):
            table[schema.TEXT] = frame[schema.TEXT].astype(str).to_numpy()[ids]
        st.dataframe(table, hide_index=True, height=formatting.table_height(len(table)))


@widgets.page
def main() -> None:
    st.title("Test-sample explorer")
    st.caption("Which training samples shaped this test prediction? Per-class Isolation Forests on the "
               "gradients (OGA) next to DataInf and gradient tracing; higher = more influential. "
               "Method and protocol: docs/attribution.md.")
    run_path = widgets.require_run()
    if kinds.classification_only_ui(run_path):
        return
    manifest = data.manifest(run_path)
    names = data.class_names(run_path)
    n_test = int(manifest["dataset"]["n_test"])
    test_id = int(st.number_input(f"Test sample id (0–{n_test - 1})", 0, n_test - 1, value=0, step=1,
                                  key=INPUT_KEY, width=240))
    top, metrics = data.attribution(run_path, test_id, TOP_K)
    first = top.iloc[0]
    image = data.test_image(run_path, test_id)
    if image is not None:
        st.image(formatting.as_image(image), width=160)
    texts = data.test_texts(run_path)
    if texts is not None:
        st.text(texts[test_id], width="stretch")
    st.markdown(f"Test label **{formatting.escape_markdown(names[int(first[TEST_LABEL])])}**, predicted "
                f"**{formatting.escape_markdown(names[int(first[TEST_PRED])])}**.")
    st.markdown("Class-detection metrics for this sample (1 = every top training sample is of its class):")
    st.dataframe(metrics, hide_index=True, height=formatting.table_height(len(metrics)))
    top_table_ui(run_path, top, names)
    method = st.selectbox("Heat map method", list(dict.fromkeys(top[METHOD])), key="explorer_heatmap_method")
    st.plotly_chart(figures.class_heatmap_figure(data.class_heatmap(run_path, method), names, method))


main()
