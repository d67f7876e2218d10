"""Runs / overview: what a run is, how well each detector found the noise, accuracy before and
after pruning, a comparison of several runs, and launching a new analysis in the background."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import ConfigError, GradsiftError
from core.evaluate import report
from dashboard import auth, data, formatting, jobs, paths, state, widgets

ANALYSIS_JOBS = "analysis_jobs"
METRIC_COLUMNS = {"method": "method", "n_flagged": "flagged", "precision": "precision@k", "recall": "recall@k",
                  "f1": "F1@k", "auroc": "AUROC", "ap": "AP", "precision_at_truth": "P@#noisy"}


def _fmt(value, pattern: str = "{:.4f}") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def summary_ui(run_path: str) -> None:
    manifest = data.manifest(run_path)
    frame = data.samples(run_path)
    dataset, model = manifest.get("dataset", {}), manifest.get("model", {})
    flagging, config = data.flagging(run_path), data.run_config(run_path)
    summaries = [row for row in data.retrain_summaries(run_path) if row["detector"] == flagging.detector
                 and row["mode"] == config.retrain.mode and not row["reviews"]
                 and abs(row["budget"] - flagging.budget) < 1e-9]
    proof = summaries[0] if summaries else None
    task = report.task_name(manifest)
    metric, higher = data.task_metric(run_path)
    before = model.get(f"test_{metric}")
    metric_name = formatting.metric_name(metric)
    st.subheader(Path(run_path).name)
    cols = st.columns(5)
    cols[0].metric("dataset", f"{dataset.get('name', '?')}", help=f"{dataset.get('kind', '?')} data")
    cols[1].metric("training samples", f"{len(frame):,}", help=f"{dataset.get('n_test', '?')} test samples")
    cols[2].metric("model", model.get("name", "?"))
    cols[3].metric("noise rate", _fmt(dataset.get("noise_rate"), "{:.1%}") if dataset.get("n_noisy") is not None
                   else "unknown", help="share of training labels that differ from the true labels")
    low, high = proof["delta_ci"] if proof else (None, None)
    cols[4].metric(f"test {metric_name}", _fmt(before),
                   delta=None if proof is None else f"{proof['delta_mean']:+.4f} after pruning",
                   delta_color=("normal" if higher else "inverse") if proof and proof["distinguishable"] else "off",
                   help=None if proof is None else
                   f"{proof['mode']} retraining without the {flagging.detector} detector's top "
                   f"{flagging.budget:.1%}, paired with k = 0 over {len(proof['seeds'])} seeds: change "
                   f"{proof['delta_mean']:+.4f}, 95% CI [{_fmt(low, '{:+.4f}')}, {_fmt(high, '{:+.4f}')}]"
                   + ("" if proof["distinguishable"] else " (not distinguishable from zero)"))
    if not dataset.get("test_labels_verified", False):
        st.warning("The test labels are **unverified**: the test split was carved from the same labels as training, "
                   "so test accuracy is agreement with labels that may themselves be wrong. Review test samples "
                   "(Flagged review → test split) to measure accuracy on checked labels.")
    reviewed = data.reviewed_test_accuracy(run_path)
    if reviewed:
        st.caption(f"Accuracy on the {reviewed['n_used']} reviewed test samples (reviewed labels): "
                   f"{_fmt(reviewed['accuracy'])}")
    labels = {"multilabel": "tags (multi-label)", "regression": "target (regression)"}.get(task, "classes")
    st.caption(f"{len(dataset.get('class_names', []))} {labels} · gradients {config.gradients.mode} "
               f"({config.gradients.layers} layer) · map {manifest.get('embedding', {}).get('method', '?')} · "
               f"detectors {', '.join(config.detect.detectors)} (primary {flagging.detector}) · "
               f"budget {flagging.budget:.1%}" + (" (suggested, auto)" if flagging.auto else "")
               + f" · seed {config.seed}")
    for note in dataset.get("notes", []):
        st.caption(f"• {note}")
    suggested = data.suggested_budget(run_path)
    if suggested:
        st.caption(f"Suggested budget (estimated noise rate): **{suggested['value']:.1%}**, {suggested['level']:.0%} "
                   f"interval {suggested['low']:.1%} to {suggested['high']:.1%} ({suggested['method']})"
                   + (" · applied as this run's budget" if flagging.auto else ""))

    st.markdown(f"#### Detection at budget k = {flagging.budget:.1%}")
    kinds = data.score_kinds(run_path)
    table = data.detection_table(run_path)
    table.insert(1, "kind", table["method"].map(kinds))
    table = table.iloc[table["method"].map(list(kinds).index).argsort()]
    truth = data.has_truth(frame)
    shown = table[["method", "kind", *[c for c in METRIC_COLUMNS if c in table.columns and c != "method"]]] \
        if truth else table[["method", "kind", "n_flagged"]]
    st.dataframe(shown.rename(columns=METRIC_COLUMNS), hide_index=True, height=formatting.table_height(len(shown)),
                 column_config={label: st.column_config.NumberColumn(format="%.3f")
                                for key, label in METRIC_COLUMNS.items() if key not in ("method", "n_flagged")})
    if not truth:
        st.info("This run has no true labels, so precision, recall, AUROC and AP cannot be measured; "
                "review the flagged samples to judge the detectors.")

    retrained = pd.DataFrame(data.retrain_summaries(run_path))
    if len(retrained):
        st.markdown("#### Retraining results (mean over paired seeds, 95% t-interval)")
        retrained["detector"] = retrained["detector"].fillna("(k = 0)")
        retrained["accuracy [95% CI]"] = [f"{m:.4f} [{_fmt(lo)}, {_fmt(hi)}]"
                                          for m, (lo, hi) in zip(retrained["accuracy_mean"], retrained["accuracy_ci"])]
        retrained["change vs k = 0 [95% CI]"] = [
            "–" if b == 0 and r is None else f"{d:+.4f} [{_fmt(lo, '{:+.4f}')}, {_fmt(hi, '{:+.4f}')}]"
            for b, r, d, (lo, hi) in zip(retrained["budget"], retrained["reviews"], retrained["delta_mean"],
                                         retrained["delta_ci"])]
        st.dataframe(retrained[["detector", "budget", "mode", "reviews", "seeds", "n_removed", "n_removed_noisy",
                                "accuracy [95% CI]", "change vs k = 0 [95% CI]", "distinguishable"]],
                     hide_index=True, column_config={"budget": st.column_config.NumberColumn(format="percent")})
    with st.expander("Full configuration (manifest)"):
        st.json(config, expanded=False)


def compare_row(run_path: str) -> dict:
    """One comparison row; a run that fails to read becomes a row naming the error."""
    name = Path(run_path).name
    try:
        manifest = data.manifest(run_path)
        frame = data.samples(run_path)
        table = data.detection_table(run_path).set_index("method")
        flagging = data.flagging(run_path)
    except GradsiftError as exc:
        return {"run": name, "error": widgets.read_error(exc)}
    dataset, model = manifest["dataset"], manifest["model"]
    primary = table.loc[flagging.detector] if flagging.detector in table.index else None
    return {
        "run": name, "dataset": dataset["name"], "model": model.get("name"), "n_train": len(frame),
        "noise rate": dataset.get("noise_rate"), "primary": flagging.detector, "budget": flagging.budget,
        "precision@k": None if primary is None else primary["precision"],
        "recall@k": None if primary is None else primary["recall"],
        "AUROC": None if primary is None else primary["auroc"], "AP": None if primary is None else primary["ap"],
        "test acc before": model.get("test_accuracy"),
        "test acc after (mean)": manifest.get("stages", {}).get("retrain", {}).get("accuracy_mean"),
        "change (mean)": manifest.get("stages", {}).get("retrain", {}).get("delta_mean"),
        "error": "",
    }


def compare_ui(current: str | None) -> None:
    runs = paths.list_runs()
    if len(runs) < 2:
        return
    st.markdown("#### Compare runs")
    names = {Path(run).name: run for run in runs}
    default = [Path(current).name] if current else []
    chosen = st.multiselect("Runs to compare", list(names), default=default, key="compare_runs")
    if chosen:
        st.dataframe(pd.DataFrame([compare_row(names[name]) for name in chosen]), hide_index=True,
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("noise rate", "budget", "precision@k", "recall@k", "AUROC", "AP")})


def launch_ui() -> None:
    """A form that starts core.pipeline.runner.analyze in a background thread."""
    from core.config import (
        DataConfig,
        DetectConfig,
        EmbedConfig,
        FlagConfig,
        GradientConfig,
        RunConfig,
        TrainConfig,
    )
    from core.data.registry import DATASETS
    from core.detect.registry import DETECTORS
    from core.evaluate.registry import EMBEDDERS
    from core.gradients.registry import GRADIENT_MODES
    from core.models.registry import MODELS

    defaults = RunConfig()  # every default below is the dataclasses', as on the command line

    st.markdown("#### Launch a new analysis")
    with st.form("launch"):
        left, right = st.columns(2)
        source_kind = left.radio("Data", ["Embedded dataset", "Path"], horizontal=True, key="launch_source")
        names = DATASETS.names()
        dataset_name = left.selectbox(
            "Embedded dataset",
            names,
            key="launch_dataset",
            index=names.index(defaults.data.dataset),
            format_func=lambda name: f"{name}: {DATASETS.help(name)}"[:90],
        )
        path_text = left.text_input("…or a dataset path", key="launch_path",
                                    placeholder="image folder, .csv/.parquet manifest or .npz",
                                    help=f"Must lie inside {', '.join(map(str, paths.allowed_roots()))} "
                                         f"(env {paths.DATA_ROOTS_ENV}).")
        run_name = left.text_input("Run name", key="launch_name", placeholder="e.g. digits-iforest",
                                   help=f"The run directory is created in {paths.runs_dir()}.")
        models = ["auto", *MODELS]
        model = right.selectbox("Model", models, index=models.index(defaults.train.model), key="launch_model")
        detectors = right.multiselect("Detectors (primary: the task's own, l2 or residual for regression, when "
                                      "chosen; else the first)", list(DETECTORS),
                                      default=list(defaults.detect.detectors), key="launch_detectors")
        auto_budget = right.checkbox("Flag the suggested budget (auto: the estimated noise rate)",
                                     value=defaults.flag.budget is None, key="launch_auto_budget")
        budget = right.number_input("…or a fixed budget k (%)", 0.5, 50.0, 100 * (defaults.flag.budget or 0.05), 0.5,
                                    key="launch_budget", help="Used when auto is off.")
        epochs = right.number_input("Max epochs", 1, 500, defaults.train.epochs, key="launch_epochs")
        embed = right.selectbox("2-D map", list(EMBEDDERS), index=list(EMBEDDERS).index(defaults.embed.method),
                                key="launch_embed")
        gradient_mode = right.selectbox("Gradients", list(GRADIENT_MODES),
                                        index=list(GRADIENT_MODES).index(defaults.gradients.mode),
                                        key="launch_gradients")
        submitted = st.form_submit_button("Analyze", type="primary")
    if submitted:
        try:
            if source_kind == "Path":
                chosen = paths.resolve_dataset_path(path_text)
                paths.check_manifest_files(chosen)
                dataset = str(chosen)
            else:
                dataset = dataset_name
            out = paths.new_run_path(run_name or (Path(dataset).stem if source_kind == "Path" else dataset))
            config = RunConfig(
                data=DataConfig(dataset=dataset),
                train=TrainConfig(model=model, epochs=int(epochs)),
                gradients=GradientConfig(mode=gradient_mode),
                detect=DetectConfig(detectors=tuple(detectors)),
                flag=FlagConfig(budget=None if auto_budget else float(budget) / 100),
                embed=EmbedConfig(method=embed),
            )
        except ConfigError as exc:
            st.error(str(exc))
        else:
            busy = jobs.running_job_for(str(out), "analysis")
            if busy is not None:
                st.warning(f"An analysis into {out} is already running ({busy.stage}).")
            else:
                job = jobs.start_job("analysis", f"analysis of {dataset} → {out.name}", str(out),
                                     jobs.analysis_work(config, out), actor=auth.current_actor())
                st.session_state.setdefault(ANALYSIS_JOBS, []).append(job.id)
                time.sleep(0.2)
    widgets.job_progress_ui(ANALYSIS_JOBS)


@widgets.page
def main() -> None:
    st.title("Runs / overview")
    run_path = state.current_run()
    if run_path is None:
        widgets.no_runs_ui()
    else:
        try:
            summary_ui(run_path)
        except GradsiftError as exc:
            st.error(f"Cannot read run **{Path(run_path).name}**: {widgets.read_error(exc)}")
    compare_ui(run_path)
    st.divider()
    launch_ui()


main()
