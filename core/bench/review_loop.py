"""10. The review loop (`gradsift bench --only review_loop`): does re-ranking with the reviewer's decisions find
the wrong labels sooner, how close is the estimate of the errors left, how often do conflicting near-duplicates
hold a wrong label?

Runs: `gradsift analyze` (every default but `--no-retrain --embed pca`) on each of `review_datasets` ×
`review_noise_rates` × `review_seeds`. On each run, with the truth playing the reviewer (core.review.simulate):

- after the static ranking's top m (m in `review_checkpoints`) are decided (wrong → relabelled to the truth,
  right → kept), the precision of the next `review_batch` under each re-ranking method and under the static
  ranking, on the same decisions; gain = difference, paired per (run, m), summarized with a t-interval
  (core.evaluate.intervals) over runs, each run's gain the mean over its m ≤ 200. Target: the default method
  wins, i.e. the interval's low end > 0; deeper checkpoints are reported apart. `<method>_no_reviews` (the method with no decision applied)
  separates what the decisions add.
- the estimate of the wrong labels left among the unreviewed against the true count: mean absolute
  relative error of the midpoint (target ≤ 0.25 where at least 20 are left) and how often the range holds it.
- the loop as a person runs it (static top batch, then re-ranking after every batch): wrong labels found
  after `review_batches` batches, default method minus static.
- conflicting near-duplicate pairs (core.review.duplicates, default ConflictConfig): the share holding a
  truly wrong label, against random pairs of samples with different given labels (target: ≥ 2× as often).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.bench.common import Log, Record, Sizes, info, target
from core.evaluate.intervals import t_interval
from core.review.config import RerankConfig
from core.review.simulate import NO_REVIEWS

DEFAULT_METHOD = RerankConfig().method
CONTROL = f"{DEFAULT_METHOD}{NO_REVIEWS}"
"""The default method with no decision applied: the difference is what the decisions themselves add."""
SHALLOW = 200
"""Checkpoints up to here are the issue's (50, 100, 200 reviewed); deeper ones are reported apart."""
RANDOM_PAIRS = 20_000


def make_runs(sizes: Sizes, workdir: Path, log: Log) -> list[Path]:
    """Analyze every (dataset, noise rate, seed) of `sizes` into workdir; returns the run directories."""
    from core.api import config_from_settings
    from core.pipeline.runner import Reporter, analyze

    paths = []
    for dataset in sizes.review_datasets:
        for rate in sizes.review_noise_rates:
            for seed in range(sizes.review_seeds):
                path = workdir / f"{dataset}-{rate:g}-{seed}"
                config = config_from_settings(dataset=dataset, noise_rate=rate, seed=seed, embed__method="pca",
                                              **dict(sizes.review_settings))
                log(f"  analyzing {dataset} at {rate:.0%} noise, seed {seed}")
                analyze(config, path, reporter=Reporter(), retrain_after=False)
                paths.append(path)
    return paths


def describe(run_path: Path) -> dict:
    """dataset, noise rate and seed of a run, from its manifest."""
    from core.run.rundir import RunDir

    manifest = RunDir(run_path).read_manifest()
    noise = manifest["config"]["data"]["noise_rate"]
    if noise is None:  # the source's default rate: name it by the rate realized, to the percent
        noise = round(float(manifest["dataset"].get("noise_rate") or 0.0), 2)
    return {"dataset": manifest["config"]["data"]["dataset"], "noise": float(noise),
            "seed": manifest["config"]["seed"], "run": Path(run_path).name}


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
    for (dataset, noise, checkpoint, method), part in points.groupby(["dataset", "noise", "checkpoint", "method"]):
        gain, low, high = t_interval(part["gain"])
        rows.append({"dataset": dataset, "noise": noise, "checkpoint": checkpoint, "method": method,
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


def records(points: pd.DataFrame, loops: pd.DataFrame, conflicts: pd.DataFrame) -> list[Record]:
    out: list[Record] = []
    for depth, chosen in (("", points["checkpoint"] <= SHALLOW), ("_deep", points["checkpoint"] > SHALLOW)):
        for method, part in points[chosen].groupby("method", sort=False):
            per_run = run_gains(part)
            gain, low, high = t_interval(per_run)
            note = (f"95% CI [{low:+.3f}, {high:+.3f}] over {len(per_run)} runs (each run's mean over its "
                    f"{part['checkpoint'].nunique()} checkpoints)")
            name = f"review_loop_{method}_gain_next_batch{depth}"
            out.append(info(name, gain, "precision", note))
            if method == DEFAULT_METHOD:  # a win is a gain whose interval excludes zero
                out.append(target(f"{name}_ci_low", low, "precision", "> 0", note) if not depth
                           else info(f"{name}_ci_low", low, "precision"))
    for depth, chosen in (("", points["checkpoint"] <= SHALLOW), ("_deep", points["checkpoint"] > SHALLOW)):
        added = reviews_added(points[chosen])
        if len(added):
            per_run = added.groupby(level="run").mean()
            gain, low, high = t_interval(per_run)
            out.append(info(f"review_loop_decisions_add{depth}", gain, "precision",
                            f"{DEFAULT_METHOD} minus {CONTROL}: 95% CI [{low:+.3f}, {high:+.3f}] over {len(per_run)} runs"))
    errors = estimate_errors(points)
    error = float(errors["relative_error"].abs().mean()) if len(errors) else float("nan")
    out.append(target("review_loop_estimate_abs_relative_error", error, "fraction", "<= 0.25",
                      f"{len(errors)} (run, checkpoint) points with >= 20 left"))
    out.append(info("review_loop_estimate_range_coverage",
                    float(errors["covered"].mean()) if len(errors) else float("nan"), "fraction"))
    if len(loops):
        last = loops[loops["reviewed"] == loops["reviewed"].max()].pivot_table(index="run", columns="method",
                                                                               values="found")
        gain, low, high = t_interval(last[DEFAULT_METHOD] - last["static"])
        out.append(info("review_loop_found_after_loop_gain", gain, "wrong labels",
                        f"after {int(loops['reviewed'].max())} reviewed; 95% CI [{low:+.1f}, {high:+.1f}] over "
                        f"{len(last)} runs"))
    if len(conflicts):
        share = float(conflicts["with_noisy"].mean())
        out.append(info("conflicts_pairs_with_a_wrong_label", share, "fraction"))
        out.append(target("conflicts_with_wrong_over_random_pairs", share / float(conflicts["random_pairs"].mean()),
                          "x", ">= 2"))
    return out


def run(sizes: Sizes, log: Log, **_) -> list[Record]:
    import tempfile

    from core.review.registry import RERANK_METHODS

    methods = [name for name in RERANK_METHODS.names() if name != "static"]
    with tempfile.TemporaryDirectory(prefix="gradsift-review-loop-") as workdir:
        paths = make_runs(sizes, Path(workdir), log)
        points, loops, conflicts = measure_runs(paths, sizes.review_checkpoints, sizes.review_batch, methods,
                                                sizes.review_batches, log)
    table = gain_table(points)
    log(table.round(3).to_string(index=False))
    return records(points, loops, conflicts)
