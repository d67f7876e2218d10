"""Budget & retrain: does removing the flagged samples help? Test accuracy against budget k.

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

import numpy as np
import pandas as pd
import streamlit as st

from core.config import DEFAULT_SEEDS
from core.detect.flagging import budget_count
from core.errors import GradsiftError
from core.run import schema
from dashboard import auth, data, figures, jobs, widgets

RETRAIN_JOBS = "retrain_jobs"
SHOW_MODE = "retrain_show_mode"
MODES = {"probe": "probe: refit the last layer on cached features (seconds)",
         "full": "full: retrain the whole model with the run's recipe (the paper's protocol)"}


SLIDER_STEP = 0.5


def slider_top(suggested: dict | None) -> float:
    """The slider's upper end in %: 15, or the suggested interval's upper end rounded up to 5 points, plus 5."""
    if not suggested:
        return 15.0
    return max(15.0, 5.0 * np.ceil(suggested["high"] * 100 / 5) + 5.0)


def on_grid(percent: float) -> float:
    return float(round(percent / SLIDER_STEP) * SLIDER_STEP)


def budget_ui(run_path: str, frame: pd.DataFrame) -> tuple[float, str]:
    """The budget slider (the suggested budget marked below it) and the detector; returns (budget in %, detector)."""
    manifest = data.manifest(run_path)
    scores = schema.score_names(frame.columns)
    primary = manifest["config"]["detect"]["primary"]
    suggested = data.suggested_budget(run_path)
    top = slider_top(suggested)

    def use_suggested() -> None:
        st.session_state["retrain_budget"] = min(max(on_grid(suggested["value"] * 100), 0.0), top)

    if "retrain_budget" not in st.session_state:  # the run's budget first; later the person's choice
        st.session_state["retrain_budget"] = min(float(round(manifest["config"]["detect"]["budget"] * 100, 1)), top)
    left, right = st.columns([2, 1])
    budget_pct = left.slider("Budget k: % of training samples removed (highest scores first)", 0.0, top,
                             step=SLIDER_STEP, format="%.1f%%", key="retrain_budget")
    detector = right.selectbox("Detector", scores, index=scores.index(primary) if primary in scores else 0,
                               key="retrain_detector")
    if suggested:
        right.button(f"Use the suggested {suggested['value']:.1%}", key="use_suggested_budget", on_click=use_suggested,
                     help="Set the slider to the estimated noise rate (docs/budget.md).")
        precision, recall = data.estimated_at(run_path, detector, budget_pct / 100)
        left.caption(f"Suggested budget **{suggested['value']:.1%}** ({suggested['level']:.0%} interval "
                     f"{suggested['low']:.1%} to {suggested['high']:.1%}, {suggested['method']}). At k = "
                     f"{budget_pct:.1f}%, {detector}'s flags have an estimated precision **{_pct(precision)}** and "
                     f"recall **{_pct(recall)}**.")
        st.plotly_chart(figures.budget_figure(data.budget_curve(run_path, detector, top / 100), suggested,
                                              budget_pct / 100), key="budget_curve")
    return budget_pct, detector


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"


def form_ui(run_path: str, frame: pd.DataFrame, budget_pct: float, detector: str) -> None:
    manifest = data.manifest(run_path)
    with st.form("retrain_form"):
        left, right = st.columns([2, 1])
        mode = left.radio("Mode", list(MODES), format_func=MODES.get, key="retrain_mode", horizontal=True)
        seed_cols = right.columns(2)
        seed = seed_cols[0].number_input("First seed", value=int(manifest["config"]["seed"]), step=1,
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
        budget = budget_pct / 100
        n_removed = budget_count(budget, len(frame))
        if budget > 0 and n_removed == 0:
            st.warning(f"k = {budget_pct:.1f}% removes no sample of {len(frame)}; choose a larger budget.")
            return
        title = f"{mode} retraining: {detector}, k = {budget_pct:.1f}%" + (" + my reviews" if reviewed else "")
        count = int(seeds) if seeds else DEFAULT_SEEDS[mode]
        job = jobs.start_job("retrain", title + f", {count} seeds", run_path,
                             jobs.retrain_work(run_path, detector, budget, mode, int(seed), count, bool(reviewed)),
                             actor=auth.current_actor())
        st.session_state.setdefault(RETRAIN_JOBS, []).append(job.id)
        st.session_state[SHOW_MODE] = mode  # the curve below shows the mode just requested
        time.sleep(0.2)


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
    st.plotly_chart(figures.accuracy_figure(summaries, title=f"test accuracy vs k ({mode}; mean and 95% CI over "
                                                               "seeds)"), key="retrain_curve")
    pruned = summaries[(summaries["budget"] > 0) | summaries["reviews"].notna()]
    for row in pruned.itertuples():
        low, high = row.delta_ci
        what = f"**{row.detector}**, k = {row.budget:.1%}" + (" + reviews" if row.reviews else "")
        if low is None:
            st.caption(f"{what}: one seed only ({row.delta_mean:+.4f} vs k = 0); add seeds for an interval.")
        elif row.distinguishable:
            st.caption(f"{what}: change {row.delta_mean:+.4f} vs k = 0, 95% CI [{low:+.4f}, {high:+.4f}] "
                       f"over {len(row.seeds)} paired seeds: distinguishable from zero.")
        else:
            st.caption(f"{what}: change {row.delta_mean:+.4f} vs k = 0, 95% CI [{low:+.4f}, {high:+.4f}] "
                       f"over {len(row.seeds)} paired seeds: **not distinguishable from zero**.")
    columns = ["detector", "budget", "seed", "reviews_key", "n_train", "n_removed", "n_relabelled",
               "n_removed_noisy", "test_accuracy", "baseline_accuracy", "delta", "seconds", "created"]
    st.dataframe(shown[columns].sort_values(["detector", "budget", "seed"]), hide_index=True,
                 column_config={"budget": st.column_config.NumberColumn(format="percent"),
                                "test_accuracy": st.column_config.NumberColumn(format="%.4f"),
                                "baseline_accuracy": st.column_config.NumberColumn("k = 0 (same seed)", format="%.4f"),
                                "delta": st.column_config.NumberColumn("change", format="%+.4f"),
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
        budget_pct, detector = budget_ui(run_path, frame)
        form_ui(run_path, frame, budget_pct, detector)
    except GradsiftError as exc:
        st.error(widgets.read_error(exc))
    widgets.job_progress_ui(RETRAIN_JOBS)
    results_ui(run_path)


main()
