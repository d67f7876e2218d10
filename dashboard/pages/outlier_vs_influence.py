"""Outlier vs influence: do gradient-outlier scores agree with influence / label-quality baselines?

Every score column of the run (`score_<name>`) is compared: scatter of one against
another with their Spearman rank correlation, the correlation matrix, the overlap of
their flagged sets at a budget, and precision-recall curves against the truth when known.
Baselines appear as extra score columns when the analysis computed them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.run import schema
from dashboard import data, figures, widgets


def pair_scatter_ui(run_path: str, frame: pd.DataFrame, x_name: str, y_name: str, truth: bool,
                    correlations: pd.DataFrame) -> None:
    as_ranks = st.toggle("Plot ranks instead of raw scores", value=True, key="ovi_ranks",
                         help="Rank 1 = most outlying. Ranks spread heavy-tailed scores evenly.")
    ranks = data.ranks(run_path)
    if as_ranks:
        x, y = ranks[x_name].to_numpy(), ranks[y_name].to_numpy()
    else:
        x, y = frame[schema.score_column(x_name)].to_numpy(), frame[schema.score_column(y_name)].to_numpy()
    custom, hover = figures.hover_data(frame, None)
    if truth:
        values, categories, title = figures.yes_no_codes(frame[schema.IS_NOISY]), ("no", "yes", "unknown"), \
            "truly noisy"
    else:
        both = data.flagged_mask(run_path, x_name).astype(np.int64) + data.flagged_mask(run_path, y_name)
        values, categories, title = both, ("neither", "one", "both"), "flagged by"
    figure = figures.scatter_figure(x, y, custom, color=values, categories=categories, color_title=title,
                                       hover_names=hover, x_title=f"{x_name} {'rank' if as_ranks else 'score'}",
                                       y_title=f"{y_name} {'rank' if as_ranks else 'score'}", height=480,
                                       marker_size=3 if len(frame) > 20_000 else 5,
                                       keep=data.flagged_mask(run_path, x_name) | data.flagged_mask(run_path, y_name))
    if as_ranks:
        figure.update_xaxes(autorange="reversed")
        figure.update_yaxes(autorange="reversed")
    st.plotly_chart(figure, key="ovi_scatter")
    if figures.drawn_note(len(frame)):
        st.caption(figures.drawn_note(len(frame), kept="sample flagged by either score"))
    rho = correlations.loc[x_name, y_name]
    st.metric(f"Spearman rank correlation ({x_name} vs {y_name})", "–" if np.isnan(rho) else f"{rho:.3f}")


@widgets.page
def main() -> None:
    st.title("Outlier vs influence")
    run_path = widgets.require_run()
    frame = data.samples(run_path)
    truth = data.has_truth(frame)
    kinds = data.score_kinds(run_path)
    detectors = [name for name, kind in kinds.items() if kind == data.DETECTOR]
    baselines = [name for name, kind in kinds.items() if kind != data.DETECTOR]
    correlations = data.correlations(run_path)

    if baselines and detectors:
        st.markdown(f"Outlier detectors **{', '.join(detectors)}** against {len(baselines)} baselines "
                    "(influence functions and label-quality scores, all oriented higher = more harmful).")
        left, right = st.columns(2)
        x_name = left.selectbox("Baseline (x)", baselines, key="ovi_x",
                                format_func=lambda name: f"{name} ({kinds[name]})")
        y_name = right.selectbox("Outlier detector (y)", detectors, key="ovi_y")
        table = correlations.loc[detectors, baselines]
        st.markdown("#### Spearman rank correlation, detectors × baselines")
        st.dataframe(table.style.format("{:.3f}"))
    else:
        st.info("This run holds only outlier-detector scores. Influence and label-quality baselines appear here "
                "as extra columns (`score_<name>`) when the analysis computed them; meanwhile the detectors are "
                "compared with each other.")
        if len(detectors) < 2:
            st.warning("Only one score column: nothing to compare.")
            return
        left, right = st.columns(2)
        x_name = left.selectbox("Detector (x)", detectors, key="ovi_x")
        y_name = right.selectbox("Detector (y)", [d for d in detectors if d != x_name], key="ovi_y")
    pair_scatter_ui(run_path, frame, x_name, y_name, truth, correlations)

    st.markdown("#### Rank correlation between all score columns")
    st.plotly_chart(figures.correlation_figure(correlations), key="ovi_corr")

    st.markdown("#### Overlap of flagged sets")
    budget = widgets.budget_ui(run_path, data.flagging(run_path).detector, "ovi_budget", "Budget k (%)")
    if data.flagging(run_path).at(budget).count < 1:
        st.warning(f"k = {budget:.1%} flags no sample of {len(frame)}.")
    else:
        overlap = data.overlap(run_path, budget)
        overlap = overlap[overlap["a"].isin(detectors) | overlap["b"].isin(detectors)]
        st.caption("Pairs with at least one outlier detector; Jaccard = |both| / |either|.")
        st.dataframe(overlap.rename(columns={"n_flagged": "flagged each"}), hide_index=True,
                     column_config={"jaccard": st.column_config.NumberColumn("Jaccard", format="%.3f")})

    st.markdown("#### Precision–recall against the truth")
    if not truth:
        st.caption("Hidden: this run has no true labels.")
        return
    curves = data.pr_curves(run_path)
    table = data.detection_table(run_path).set_index("method")
    best_baselines = table.loc[baselines, "ap"].sort_values(ascending=False).index[:3].tolist()
    shown = st.multiselect("Curves", list(kinds), default=detectors + best_baselines, key="ovi_curves",
                           help="Default: the detectors and the three baselines with the highest AP.")
    labelled = {f"{name} (AP {table.loc[name, 'ap']:.3f})": curves[name] for name in shown}
    st.plotly_chart(figures.pr_figure(labelled, data.manifest(run_path)["dataset"].get("noise_rate")),
                    key="ovi_pr")


main()
