"""Test-sample explorer: which training samples shaped one test prediction.

Rankings come from core.influence.attribution: OGA with one Isolation Forest per class (class
first, then samples inside the class; and the reference code's class-level copy),
DataInf and gradient tracing, each with higher = more influential.

Those rankings need classes; a multi-label or regression run's test samples are shown as the model's
prediction against the test label instead (core.evaluate.test_predictions): predicted tags as chips against the
true set, or the true and predicted value with the residual, and a table of every test sample, wrong ones first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluate.test_predictions import EXACT, TEST_ID
from core.influence.run_attribution import (
    INFLUENCE,
    METHOD,
    RANK,
    SAME_CLASS,
    TEST_LABEL,
    TEST_PRED,
)
from core.run import schema
from dashboard import data, figures, formatting, kind_views, kinds, test_data, widgets

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


def test_sample_ui(run_path: str, n_test: int) -> int:
    """The test sample id input, then the sample's image or text (when the run stores them); returns the id."""
    test_id = int(st.number_input(f"Test sample id (0–{n_test - 1})", 0, n_test - 1, value=0, step=1,
                                  key=INPUT_KEY, width=240))
    image = test_data.test_image(run_path, test_id)
    if image is not None:
        st.image(formatting.as_image(image), width=160)
    texts = test_data.test_texts(run_path)
    if texts is not None:
        st.text(texts[test_id], width="stretch")
    return test_id


def kind_ui(run_path: str, task: str) -> None:
    """A multi-label or regression run's test samples: the prediction against the test label (module docstring)."""
    predictions = test_data.test_predictions(run_path)
    if predictions is None:
        st.info(f"This {task} run holds no test predictions in its task's form (no test split, or test labels of "
                "another shape): there are no test samples to show.")
        return
    names = data.class_names(run_path)
    metric, higher = data.task_metric(run_path)
    value = data.manifest(run_path).get("model", {}).get(f"test_{metric}")
    st.caption(f"Each test sample's {'tags' if task == 'multilabel' else 'value'} as the analyzed model predicts "
               f"them against the test label (training-sample rankings need classes). Test "
               f"{formatting.metric_name(metric)}: " + ("–" if value is None else f"{value:.4f}")
               + ("" if higher else " (lower is better)") + ".")
    test_id = test_sample_ui(run_path, len(predictions))
    row = predictions.iloc[test_id]
    if task == "multilabel":
        true = formatting.as_tags(row[schema.TRUE_TAGS])
        st.markdown("predicted: " + formatting.tag_chips(true, formatting.as_tags(row[schema.PRED_TAGS]), names))
        st.caption("grey: a true tag predicted · green +: predicted, not true · red, struck through: true, missed "
                   f"· true: {formatting.escape_markdown(formatting.tag_text(true, names))}")
        table = pd.DataFrame({TEST_ID: predictions[TEST_ID],
                              "true tags": [formatting.tag_text(t, names) for t in predictions[schema.TRUE_TAGS]],
                              "predicted tags": [formatting.tag_text(t, names) for t in predictions[schema.PRED_TAGS]],
                              "every tag right": predictions[EXACT]}).sort_values(["every tag right", TEST_ID])
    else:
        st.markdown(f":green[true **{row[schema.TRUE_VALUE]:.6g}**]  \npred **{row[schema.PRED_VALUE]:.6g}** · "
                    f"residual {row[schema.RESIDUAL_VALUE]:+.4g} (predicted − true)")
        table = kind_views.ordered(predictions, task)
        table = table.rename(columns={schema.TRUE_VALUE: "true", schema.PRED_VALUE: "predicted",
                                      schema.RESIDUAL_VALUE: "residual (predicted − true)"})
    st.markdown(f"#### {len(table):,} test samples, " + ("wrong tag sets first" if task == "multilabel"
                                                           else "largest errors first"))
    st.dataframe(table, hide_index=True)


@widgets.page
def main() -> None:
    st.title("Test-sample explorer")
    run_path = widgets.require_run()
    task = kinds.task_name(run_path)
    if task != kinds.CLASSIFICATION:
        kind_ui(run_path, task)
        return
    st.caption("Which training samples shaped this test prediction? Per-class Isolation Forests on the "
               "gradients (OGA) next to DataInf and gradient tracing; higher = more influential. "
               "Method and protocol: docs/attribution.md.")
    manifest = data.manifest(run_path)
    names = data.class_names(run_path)
    test_id = test_sample_ui(run_path, int(manifest["dataset"]["n_test"]))
    top, metrics = test_data.attribution(run_path, test_id, TOP_K)
    first = top.iloc[0]
    st.markdown(f"Test label **{formatting.escape_markdown(names[int(first[TEST_LABEL])])}**, predicted "
                f"**{formatting.escape_markdown(names[int(first[TEST_PRED])])}**.")
    st.markdown("Class-detection metrics for this sample (1 = every top training sample is of its class):")
    st.dataframe(metrics, hide_index=True, height=formatting.table_height(len(metrics)))
    top_table_ui(run_path, top, names)
    method = st.selectbox("Heat map method", list(dict.fromkeys(top[METHOD])), key="explorer_heatmap_method")
    st.plotly_chart(figures.class_heatmap_figure(test_data.class_heatmap(run_path, method), names, method))


main()
