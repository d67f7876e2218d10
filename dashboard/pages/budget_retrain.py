"""Budget & retrain: does removing the flagged samples help? The test metric against budget k.

The metric is the run's task's (core.tasks.registry: accuracy; micro-F1 for multi-label runs; RMSE for regression
runs, where lower is better, so a negative change is the better one); every title, caption and column names it.

The budget slider marks the suggested budget (the estimated noise rate and its interval, from the
suggest stage) and says the estimated precision and recall of the detector's flags at the chosen
k (a cached cumulative sum: nothing trains when it moves); nothing trains until *Retrain* is
pressed; the retraining
runs in a background thread (the page stays usable) over several seeds, each paired with
its own k = 0 baseline, and core caches every result in retrain.parquet by (run, detector,
budget, seed, mode, reviews). The chart draws the mean and the 95% t-interval over seeds.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.config import DEFAULT_SEEDS
from core.errors import GradsiftError
from core.run import schema
from dashboard import auth, data, figures, formatting, jobs, widgets

RETRAIN_JOBS = "retrain_jobs"
SHOW_MODE = "retrain_show_mode"
MODES = {"probe": "probe: refit the last layer on cached features (seconds)",
         "full": "full: retrain the whole model with the run's recipe (the paper's protocol)"}


def budget_ui(run_path: str, frame: pd.DataFrame) -> tuple[float, str]:
    """The detector and the shared budget slider (widgets.budget_ui) with the estimated precision/recall curve;
    returns (budget as a fraction, detector)."""
    scores = schema.score_names(frame.columns)
    primary = data.flagging(run_path).detector
    detector = st.selectbox("Detector", scores, index=scores.index(primary) if primary in scores else 0,
                            key="retrain_detector")
    budget = widgets.budget_ui(run_path, detector, "retrain_budget",
                               "Budget k: % of training samples removed (highest scores first)")
    suggested = data.suggested_budget(run_path)
    if suggested:
        top = widgets.budget_top_pct(suggested) / 100
        st.plotly_chart(figures.budget_figure(data.budget_curve(run_path, detector, top), suggested, budget),
                        key="budget_curve")
    return budget, detector


def form_ui(run_path: str, frame: pd.DataFrame, budget: float, detector: str) -> None:
    """Mode and seeds (defaults from the run's RetrainConfig), then *Retrain*: a background job."""
    config = data.run_config(run_path)
    with st.form("retrain_form"):
        left, right = st.columns([2, 1])
        mode = left.radio("Mode", list(MODES), index=list(MODES).index(config.retrain.mode), format_func=MODES.get,
                          key="retrain_mode", horizontal=True)
        seed_cols = right.columns(2)
        seed = seed_cols[0].number_input("First seed", value=int(config.seed), step=1,
                                         key="retrain_seed")
        seeds = seed_cols[1].number_input("Seeds", min_value=1, max_value=20, value=None, step=1,
                                          key="retrain_seeds", placeholder="5 probe / 3 full",
                                          help="Each seed is paired with its own k = 0 baseline; probe seeds "
                                               "draw bootstrap resamples, full seeds vary initialization.")
        buttons = st.columns([1, 2, 3])
        plain = buttons[0].form_submit_button("Retrain", type="primary")
        reviewed = buttons[1].form_submit_button("Retrain with my reviews applied",
                                                 help="Confirmed-mislabeled samples removed and relabels applied, "
                                                      "on top of the budget.")
    if plain or reviewed:
        busy = jobs.running_job_for(run_path, "retrain")
        if busy is not None:
            st.warning(f"A retraining of this run is already running ({busy.title}); wait for it to finish.")
            return
        if budget > 0 and data.flagging(run_path).at(budget).count == 0:
            st.warning(f"k = {budget:.1%} removes no sample of {len(frame)}; choose a larger budget.")
            return
        title = f"{mode} retraining: {detector}, k = {budget:.1%}" + (" + my reviews" if reviewed else "")
        count = int(seeds) if seeds else DEFAULT_SEEDS[mode]
        job = jobs.start_job("retrain", title + f", {count} seeds", run_path,
                             jobs.retrain_work(run_path, detector, budget, mode, int(seed), count, bool(reviewed)),
                             actor=auth.current_actor())
        st.session_state.setdefault(RETRAIN_JOBS, []).append(job.id)
        st.session_state[SHOW_MODE] = mode  # the curve below shows the mode just requested
        time.sleep(0.2)


def _change_sense(row) -> str:
    """'better' / 'worse' / 'no change' for a summary's mean change, in the metric's direction (core's `improved`)."""
    if row.delta_mean == 0:
        return "no change"
    return "better" if row.improved else "worse"


def results_ui(run_path: str) -> None:
    results = data.retrain_results(run_path)
    if not len(results):
        st.info("No retraining yet: press *Retrain* (probe mode takes seconds).")
        return
    recorded = set(results["mode"])
    mode = st.segmented_control("Show mode", list(MODES), default="probe" if "probe" in recorded else "full",
                                key=SHOW_MODE, required=True) or "probe"
    shown = results[results["mode"] == mode]
    if not len(shown):
        st.info(f"No {mode} retraining recorded yet.")
        return
    summaries = pd.DataFrame(data.retrain_summaries(run_path))
    summaries = summaries[summaries["mode"] == mode]
    metric, higher = data.task_metric(run_path)
    name = formatting.metric_name(metric)
    st.plotly_chart(figures.accuracy_figure(summaries, title=f"test {name} vs k ({mode}; mean and 95% CI over seeds"
                                                               f"{'' if higher else '; lower is better'})",
                                            metric=name), key="retrain_curve")
    pruned = summaries[(summaries["budget"] > 0) | summaries["reviews"].notna()]
    for row in pruned.itertuples():
        low, high = row.delta_ci
        what = f"**{row.detector}**, k = {row.budget:.1%}" + (" + reviews" if row.reviews else "")
        if low is None:
            st.caption(f"{what}: one seed only (test {name} {row.delta_mean:+.4f} vs k = 0, "
                       f"{_change_sense(row)}); add seeds for an interval.")
        elif row.distinguishable:
            st.caption(f"{what}: test {name} change {row.delta_mean:+.4f} vs k = 0 ({_change_sense(row)}), 95% CI "
                       f"[{low:+.4f}, {high:+.4f}] over {len(row.seeds)} paired seeds: distinguishable from zero.")
        else:
            st.caption(f"{what}: test {name} change {row.delta_mean:+.4f} vs k = 0 ({_change_sense(row)}), 95% CI "
                       f"[{low:+.4f}, {high:+.4f}] over {len(row.seeds)} paired seeds: **not distinguishable from "
                       "zero**.")
    columns = ["detector", "budget", "seed", "reviews_key", "n_train", "n_removed", "n_relabelled",
               "n_removed_noisy", "test_accuracy", "baseline_accuracy", "delta", "seconds", "created"]
    st.dataframe(shown[columns].sort_values(["detector", "budget", "seed"]), hide_index=True,
                 column_config={"budget": st.column_config.NumberColumn(format="percent"),
                                "test_accuracy": st.column_config.NumberColumn(f"test {name}", format="%.4f"),
                                "baseline_accuracy": st.column_config.NumberColumn(f"{name} at k = 0 (same seed)",
                                                                                   format="%.4f"),
                                "delta": st.column_config.NumberColumn(f"{name} change", format="%+.4f"),
                                "reviews_key": st.column_config.TextColumn("reviews applied")})
    if not data.has_truth(data.samples(run_path)):
        st.caption("n_removed_noisy is empty: the run has no true labels.")


@widgets.page
def main() -> None:
    st.title("Budget & retrain")
    run_path = widgets.require_run()
    frame = data.samples(run_path)
    decisions = data.review_store(run_path).edits()
    st.caption(f"{len(frame):,} training samples · reviews on record: {len(decisions.removed)} confirmed "
               f"mislabeled, {len(decisions.relabelled)} relabelled.")
    try:
        budget, detector = budget_ui(run_path, frame)
        form_ui(run_path, frame, budget, detector)
    except GradsiftError as exc:
        st.error(widgets.read_error(exc))
    widgets.job_progress_ui(RETRAIN_JOBS)
    results_ui(run_path)


main()
