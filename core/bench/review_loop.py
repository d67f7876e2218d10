"""10. The review loop (`gradsift bench --only review_loop`): does re-ranking with the reviewer's decisions find
the wrong labels sooner, do the decisions themselves teach it, how close is the estimate of the errors left, how
often do conflicting near-duplicates hold a wrong label?

Runs: `gradsift analyze` (every default but `--no-retrain --embed pca`) on the target's cells,
`review_learn_datasets` with `review_learn_noise` (pair-flip) at `review_learn_rate` × `review_learn_seeds`, and
on the reported symmetric cells, `review_datasets` × `review_noise_rates` × `review_seeds`. A run the bench
already made with the same configuration (end_to_end's, in --quick) is read instead of analyzed again. On each
run, with the truth playing the reviewer (core.review.simulate):

- after the static ranking's top m are decided (wrong → relabelled to the truth, right → kept), the precision
  of the next `review_batch` under each re-ranking method and under the static ranking, on the same decisions;
  gain = difference, paired per (run, m), summarized with a t-interval (core.evaluate.intervals) over runs,
  each run's gain the mean over its checkpoints. Targets, on the pair-flip cells at `review_learn_checkpoints`
  (where the static ranking leaves room): the default method wins (the interval's low end > 0) and the
  decisions add to it (default minus `<method>_no_reviews`, the same method with no decision applied: low end
  > 0), i.e. the loop learns. Under symmetric noise the static ranking is already within 0.03 of the ceiling
  at 50–200 reviewed, so those gains are reported as figures (`review_loop_symmetric_*`), deeper checkpoints
  apart.
- the estimate of the wrong labels left among the unreviewed against the true count, on the symmetric runs:
  mean absolute relative error of the midpoint (target ≤ 0.25 where at least 20 are left) and how often the
  range holds it; on the pair-flip runs for information.
- the loop as a person runs it (static top batch, then re-ranking after every batch): wrong labels found
  after `review_batches` batches, default method minus static.
- conflicting near-duplicate pairs (core.review.duplicates, default ConflictConfig) on the symmetric runs:
  the share holding a truly wrong label, against random pairs of samples with different given labels
  (target: ≥ 2× as often); on the pair-flip runs for information.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.bench.common import Log, Record, Sizes, info, target, thread_limit
from core.config import RunConfig
from core.evaluate.intervals import t_interval
from core.review.config import RerankConfig
from core.review.simulate import NO_REVIEWS

DEFAULT_METHOD = RerankConfig().method
CONTROL = f"{DEFAULT_METHOD}{NO_REVIEWS}"
"""The default method with no decision applied: the difference is what the decisions themselves add."""
SHALLOW = 200
"""Checkpoints up to here are the issue's (50, 100, 200 reviewed); deeper ones are reported apart."""
RANDOM_PAIRS = 20_000
THREADS = 1
"""Threads of the section's analyses and simulation: it measures precision, not time, and on a shared 2-core
machine 2-thread regions stall (a digits analysis took 105–262 s with 2 threads at load 7, 15–25 s with 1)."""


SYMMETRIC = "symmetric"
"""The noise model of the reported cells (the data sources' default)."""


def run_configs(sizes: Sizes) -> tuple[list[tuple[str, RunConfig]], list[tuple[str, RunConfig]]]:
    """(name, configuration) of every run the section analyzes: the target's pair-flip cells, and the symmetric
    ones."""
    from core.api import config_from_settings

    settings = dict(embed__method="pca", **dict(sizes.review_settings))
    learn = [(f"{dataset}-{sizes.review_learn_noise}-{sizes.review_learn_rate:g}-{seed}",
              config_from_settings(dataset=dataset, noise=sizes.review_learn_noise,
                                   noise_rate=sizes.review_learn_rate, seed=seed, **settings))
             for dataset in sizes.review_learn_datasets for seed in range(sizes.review_learn_seeds)]
    symmetric = [(f"{dataset}-{rate:g}-{seed}", config_from_settings(dataset=dataset, noise_rate=rate, seed=seed,
                                                                     **settings))
                 for dataset in sizes.review_datasets for rate in sizes.review_noise_rates
                 for seed in range(sizes.review_seeds)]
    return learn, symmetric


def make_runs(configs: Sequence[tuple[str, RunConfig]], workdir: Path, log: Log, reuse: Path | None = None
              ) -> list[Path]:
    """Analyze every (name, configuration) into workdir/name; returns the run directories. `reuse`: a run made
    with one of those configurations (and `--no-retrain`), read in its place instead of analyzed again."""
    from core.pipeline.runner import Reporter, analyze
    from core.run.rundir import RunDir

    reused = RunDir(reuse).config() if reuse is not None and (Path(reuse) / "manifest.json").exists() else None
    paths = []
    for name, config in configs:
        if reused is not None and config == reused:
            log(f"  {name}: the run the bench already made ({Path(reuse).name})")
            paths.append(Path(reuse))
            reused = None
            continue
        log(f"  analyzing {name}")
        analyze(config, workdir / name, reporter=Reporter(), retrain_after=False)
        paths.append(workdir / name)
    return paths


def describe(run_path: Path) -> dict:
    """dataset, noise model, noise rate and seed of a run, from its manifest."""
    from core.run.rundir import RunDir

    manifest = RunDir(run_path).read_manifest()
    noise = manifest["config"]["data"]["noise_rate"]
    if noise is None:  # the source's default rate: name it by the rate realized, to the percent
        noise = round(float(manifest["dataset"].get("noise_rate") or 0.0), 2)
    return {"dataset": manifest["config"]["data"]["dataset"], "noise_model": manifest["config"]["data"]["noise"]
            or SYMMETRIC, "noise": float(noise), "seed": manifest["config"]["seed"], "run": Path(run_path).name}


def random_pair_rate(labels: np.ndarray, noisy: np.ndarray, seed: int, pairs: int = RANDOM_PAIRS) -> float:
    """Share of random pairs with different given labels that hold at least one truly wrong label."""
    rng = np.random.default_rng([seed, 31])
    a, b = rng.integers(0, len(labels), pairs), rng.integers(0, len(labels), pairs)
    differ = labels[a] != labels[b]
    return float(np.mean(noisy[a[differ]] | noisy[b[differ]]))


def measure_runs(run_paths: Sequence[Path], checkpoints: Sequence[int], batch: int, methods: Sequence[str],
                 review_batches: int, log: Log) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(points: one row per run × checkpoint × method; loop: wrong labels found per run, batch and method;
    conflicts: one row per run) for runs with true labels."""
    from core.review.config import ConflictConfig
    from core.review.duplicates import conflicting_pairs, pair_truth
    from core.review.inputs import LoopInputs
    from core.review.simulate import loop_found, simulate, truth_of
    from core.run.rundir import RunDir

    points, loops, conflicts = [], [], []
    config = ConflictConfig()
    for path in run_paths:
        run = RunDir(path)
        facts = describe(path)
        inputs, truth = LoopInputs.from_run(run), truth_of(run)
        frame = simulate(inputs, truth, methods=methods, checkpoints=checkpoints, batch=batch)
        points.append(frame.assign(**facts))
        for method in ("static", DEFAULT_METHOD):
            found = loop_found(inputs, truth, method, batches=review_batches, batch=batch)
            loops += [{**facts, "method": method, "reviewed": (step + 1) * batch, "found": int(count)}
                      for step, count in enumerate(found)]
        noisy = inputs.given_labels != truth
        pairs, search = conflicting_pairs(inputs.features, inputs.given_labels, neighbors=config.neighbors,
                                          metric=config.metric, distance_quantile=config.distance_quantile,
                                          max_queries=config.max_queries, seed=inputs.seed)
        measured = pair_truth(pairs, noisy, inputs.static)
        measured["noisy_covered"] = float(np.isin(np.flatnonzero(noisy), np.union1d(pairs.sample_a, pairs.sample_b)
                                                  ).mean()) if noisy.any() else np.nan
        conflicts.append({**facts, **measured, "random_pairs": random_pair_rate(inputs.given_labels, noisy,
                                                                                 inputs.seed)})
        log(f"  {facts['run']}: simulated {len(frame)} points, {len(pairs)} conflicting pairs")
    return pd.concat(points, ignore_index=True), pd.DataFrame(loops), pd.DataFrame(conflicts)


def gain_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, noise, checkpoint, method): mean precision of the next batch, the static one, and the gain
    with its t-interval over seeds."""
    rows = []
    keys = ["dataset", "noise_model", "noise", "checkpoint", "method"]
    for (dataset, model, noise, checkpoint, method), part in points.groupby(keys):
        gain, low, high = t_interval(part["gain"])
        rows.append({"dataset": dataset, "noise_model": model, "noise": noise, "checkpoint": checkpoint,
                     "method": method,
                     "remaining": part["remaining"].mean(), "precision": part["precision"].mean(),
                     "static": part["static_precision"].mean(), "gain": gain, "low": low, "high": high,
                     "seeds": len(part)})
    return pd.DataFrame(rows)


def reviews_added(points: pd.DataFrame) -> pd.Series:
    """Per (run, checkpoint): precision of the default method minus that of the same refit without any decision,
    what the reviewer's decisions themselves add."""
    wide = points.pivot_table(index=["run", "checkpoint"], columns="method", values="precision")
    if DEFAULT_METHOD not in wide or CONTROL not in wide:
        return pd.Series(dtype=float)
    return wide[DEFAULT_METHOD] - wide[CONTROL]


def estimate_errors(points: pd.DataFrame, minimum: int = 20) -> pd.DataFrame:
    """One row per (run, checkpoint) with at least `minimum` wrong labels left: the estimate against the truth."""
    frame = points.drop_duplicates(["run", "checkpoint"])
    frame = frame[frame["remaining"] >= minimum].copy()
    frame["relative_error"] = (frame["estimate"] - frame["remaining"]) / frame["remaining"]
    frame["covered"] = (frame["low"] <= frame["remaining"]) & (frame["remaining"] <= frame["high"])
    return frame


def run_gains(part: pd.DataFrame) -> pd.Series:
    """Each run's mean gain over its checkpoints in `part`: the points of one run share its model, so the
    interval of a pooled gain is taken over runs, not over (run, checkpoint) points."""
    return part.groupby("run")["gain"].mean()


def _gain_records(points: pd.DataFrame, prefix: str, suffix: str, default_target: bool, where: str) -> list[Record]:
    """Each method's pooled gain over static (info) and the default's interval low end (a target when
    `default_target`), then what the decisions add to the default (the same)."""
    out: list[Record] = []
    for method, part in points.groupby("method", sort=False):
        per_run = run_gains(part)
        gain, low, high = t_interval(per_run)
        note = (f"{where}: 95% CI [{low:+.3f}, {high:+.3f}] over {len(per_run)} runs (each run's mean over its "
                f"{part['checkpoint'].nunique()} checkpoints)")
        name = f"{prefix}{method}_gain_next_batch{suffix}"
        out.append(info(name, gain, "precision", note))
        if method == DEFAULT_METHOD:  # a win is a gain whose interval excludes zero
            out.append(target(f"{name}_ci_low", low, "precision", "> 0", note) if default_target
                       else info(f"{name}_ci_low", low, "precision", note))
    added = reviews_added(points)
    if len(added):
        per_run = added.groupby(level="run").mean()
        gain, low, high = t_interval(per_run)
        note = f"{where}: {DEFAULT_METHOD} minus {CONTROL}, 95% CI [{low:+.3f}, {high:+.3f}] over {len(per_run)} runs"
        out.append(info(f"{prefix}decisions_add{suffix}", gain, "precision", note))
        if default_target:  # the loop learns: the decisions themselves raise the next batch's precision
            out.append(target(f"{prefix}decisions_add{suffix}_ci_low", low, "precision", "> 0", note))
    return out


def _cell(points: pd.DataFrame) -> str:
    """'digits, mnist5k; pairflip 20%; after 100–300 reviewed' for a record's note."""
    rates = ", ".join(f"{rate:.0%}" for rate in sorted(points["noise"].unique()))
    checkpoints = sorted(points["checkpoint"].unique())
    return (f"{', '.join(sorted(points['dataset'].unique()))}; {'/'.join(sorted(points['noise_model'].unique()))} "
            f"{rates}; after {checkpoints[0]}–{checkpoints[-1]} reviewed" if checkpoints else "no points")


def _estimate_records(points: pd.DataFrame, prefix: str, targeted: bool) -> list[Record]:
    errors = estimate_errors(points)
    error = float(errors["relative_error"].abs().mean()) if len(errors) else float("nan")
    note = f"{len(errors)} (run, checkpoint) points with >= 20 left"
    name = f"{prefix}estimate_abs_relative_error"
    return [target(name, error, "fraction", "<= 0.25", note) if targeted else info(name, error, "fraction", note),
            info(f"{prefix}estimate_range_coverage", float(errors["covered"].mean()) if len(errors) else float("nan"),
                 "fraction")]


def _loop_record(loops: pd.DataFrame, name: str) -> list[Record]:
    if not len(loops):
        return []
    last = loops[loops["reviewed"] == loops["reviewed"].max()].pivot_table(index="run", columns="method",
                                                                           values="found")
    gain, low, high = t_interval(last[DEFAULT_METHOD] - last["static"])
    return [info(name, gain, "wrong labels", f"after {int(loops['reviewed'].max())} reviewed; 95% CI [{low:+.1f}, "
                                             f"{high:+.1f}] over {len(last)} runs")]


def _conflict_records(conflicts: pd.DataFrame, prefix: str, targeted: bool) -> list[Record]:
    if not len(conflicts):
        return []
    share = float(conflicts["with_noisy"].mean())
    ratio = share / float(conflicts["random_pairs"].mean())
    name = f"{prefix}with_wrong_over_random_pairs"
    return [info(f"{prefix}pairs_with_a_wrong_label", share, "fraction"),
            target(name, ratio, "x", ">= 2") if targeted else info(name, ratio, "x")]


def records(points: pd.DataFrame, loops: pd.DataFrame, conflicts: pd.DataFrame,
            learn_checkpoints: Sequence[int] | None = None, learn_noise: str = "pairflip") -> list[Record]:
    """The section's records. Targets on the `learn_noise` runs at `learn_checkpoints` (None: all of theirs): the
    default's gain and what the decisions add; symmetric runs: figures, and the estimate and conflict targets."""
    out: list[Record] = []
    learn = points[points["noise_model"] == learn_noise]
    if learn_checkpoints is not None:
        learn = learn[learn["checkpoint"].isin(list(learn_checkpoints))]
    if len(learn):
        out += _gain_records(learn, "review_loop_", "", True, _cell(learn))
    symmetric = points[points["noise_model"] == SYMMETRIC]
    for suffix, chosen in (("", symmetric["checkpoint"] <= SHALLOW), ("_deep", symmetric["checkpoint"] > SHALLOW)):
        if chosen.any():
            out += _gain_records(symmetric[chosen], "review_loop_symmetric_", suffix, False, _cell(symmetric[chosen]))
    for model, prefix in ((SYMMETRIC, "review_loop_"), (learn_noise, f"review_loop_{learn_noise}_")):
        if (points["noise_model"] == model).any():
            out += _estimate_records(points[points["noise_model"] == model], prefix, model == SYMMETRIC)
    for model, suffix in ((learn_noise, ""), (SYMMETRIC, "_symmetric")):
        out += _loop_record(loops[loops["noise_model"] == model] if len(loops) else loops,
                            f"review_loop_found_after_loop_gain{suffix}")
    for model, prefix in ((SYMMETRIC, "conflicts_"), (learn_noise, f"conflicts_{learn_noise}_")):
        if len(conflicts):
            out += _conflict_records(conflicts[conflicts["noise_model"] == model], prefix, model == SYMMETRIC)
    return out


def run(sizes: Sizes, log: Log, run_dir: Path | None = None, **_) -> list[Record]:
    """run_dir: a run the bench already made (end_to_end's), reused when its configuration is one of ours."""
    import tempfile

    from core.review.registry import RERANK_METHODS

    methods = [name for name in RERANK_METHODS.names() if name != "static"]
    with tempfile.TemporaryDirectory(prefix="gradsift-review-loop-") as workdir, thread_limit(THREADS):
        learn, symmetric = run_configs(sizes)
        measured = []
        for configs, checkpoints in ((learn, sizes.review_learn_checkpoints), (symmetric, sizes.review_checkpoints)):
            paths = make_runs(configs, Path(workdir), log, reuse=run_dir)
            if paths:
                measured.append(measure_runs(paths, checkpoints, sizes.review_batch, methods, sizes.review_batches,
                                             log))
    points, loops, conflicts = (pd.concat([part[i] for part in measured], ignore_index=True) for i in range(3))
    log(gain_table(points).round(3).to_string(index=False))
    return records(points, loops, conflicts, sizes.review_learn_checkpoints, sizes.review_learn_noise)
