"""gradsift from a notebook: analyze a dataset, or any model's outputs, and get the results as objects.

    from core import api

    result = api.analyze(dataset="digits")                           # train, score, flag, prove
    result = api.analyze(features=h, logits=z, labels=y)             # any model's outputs: no training
    result.samples           # pandas DataFrame, one row per training sample (samples.parquet)
    result.flagged_ids       # (k,) sample ids of the primary detector's flags
    result.metrics           # per-method precision / recall / AUROC / AP (when the truth is known)
    result.report            # what `gradsift info --json` prints
    result.run_dir           # the run directory: open it with `gradsift dashboard`

Settings are `RunConfig` fields by name (`budget=0.1`, `detectors=("l2", "iforest")`), or
`section__field` where a name is ambiguous (`gradients__folds`); a whole `config=` works too.
Arrays are written to an outputs .npz (core.data.outputs) under the user's cache, so the run
directory is the same as `gradsift analyze --dataset outputs.npz` would make.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import SECTIONS, RunConfig
from core.errors import ConfigError
from core.run import schema
from core.run.io import atomic_write
from core.run.rundir import RunDir


def cache_dir() -> Path:
    """Where runs and array inputs of the API go when no `out` is named: $XDG_CACHE_HOME/gradsift (~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradsift"


@dataclass
class AnalysisResult:
    """An analyzed run, read lazily from its run directory."""

    run_dir: Path

    @cached_property
    def run(self) -> RunDir:
        return RunDir(self.run_dir)

    @cached_property
    def samples(self) -> pd.DataFrame:
        """samples.parquet: one row per training sample (columns in core.run.schema)."""
        return self.run.read_samples()

    @property
    def flagged_ids(self) -> np.ndarray:
        """(k,) int64 sample ids flagged by the primary detector at the run's budget, most outlying first."""
        frame = self.samples[self.samples[schema.IS_FLAGGED]]
        column = schema.score_column(self.run.flagging().detector)
        return frame.sort_values([column, schema.SAMPLE_ID], ascending=[False, True])[schema.SAMPLE_ID].to_numpy()

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per score column: flagged count, precision, recall, F1, AUROC, AP (NaN without truth)."""
        from core.evaluate.report import detection_table

        return detection_table(self.samples, self.run.flagging().budget)

    @property
    def report(self) -> dict:
        """The machine-readable summary (`gradsift info --json`)."""
        from core.evaluate.report import run_summary

        return run_summary(self.run_dir)["report"]

    def retrain(self, detector: str | None = None, budget: float | None = None, *, mode: str = "probe",
                seeds: int | None = None):
        """Retrain without `detector`'s top `budget` (default: the run's primary and budget) over seeds;
        returns the `RetrainSummary` (mean accuracy and paired change with 95% t-intervals)."""
        from core.pipeline.retrain import retrain_seeds

        flagging = self.run.flagging()
        return retrain_seeds(self.run, detector or flagging.detector, flagging.budget if budget is None else budget,
                             mode=mode, seeds=seeds)


def config_from_settings(config: RunConfig | None = None, **settings: Any) -> RunConfig:
    """`config` (default `RunConfig()`) with fields replaced by name: `budget=0.1` or `gradients__folds=3`.

    As on the command line, naming `detectors` without `primary` leaves the primary to the one rule
    (core.detect.flagging.primary_of): the task's own detector when named, else the first named.
    """
    config = config or RunConfig()
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    seed = config.seed
    for key, value in settings.items():
        if key == "seed":
            seed = int(value)
            continue
        section, _, field_name = key.rpartition("__")
        if section:
            if section not in SECTIONS or field_name not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
                raise ConfigError(f"unknown setting {key!r}; use section__field with a RunConfig section and field")
        else:
            owners = [name for name, klass in SECTIONS.items()
                      if key in {f.name for f in dataclasses.fields(klass)}]
            if not owners:
                raise ConfigError(f"unknown setting {key!r}; settings are RunConfig field names (see core.config)")
            if len(owners) > 1:
                raise ConfigError(
                    f"setting {key!r} is ambiguous; write one of {', '.join(f'{o}__{key}' for o in owners)}"
                )
            section, field_name = owners[0], key
        sections[section][field_name] = tuple(value) if isinstance(value, list) else value
    if "detectors" in sections["detect"] and "primary" not in sections["flag"]:
        sections["flag"]["primary"] = None  # resolved with the task: core.detect.flagging.primary_of
    return RunConfig(**{name: dataclasses.replace(getattr(config, name), **fields)
                        for name, fields in sections.items()}, seed=seed)


def write_outputs(path: Path, **arrays: np.ndarray | None) -> Path:
    """Save the given arrays as an outputs .npz (keys of core.data.outputs; None entries left out)."""
    payload = {key: np.asarray(value) for key, value in arrays.items() if value is not None}
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    return path


def analyze(dataset: str | os.PathLike | None = None, *, features: np.ndarray | None = None,
            logits: np.ndarray | None = None, probs: np.ndarray | None = None, labels: np.ndarray | None = None,
            true_labels: np.ndarray | None = None, features_test: np.ndarray | None = None,
            logits_test: np.ndarray | None = None, probs_test: np.ndarray | None = None,
            labels_test: np.ndarray | None = None, class_names: list[str] | None = None,
            ids: np.ndarray | None = None, preds: np.ndarray | None = None, preds_test: np.ndarray | None = None,
            out: str | os.PathLike | None = None, config: RunConfig | None = None,
            overwrite: bool = False, progress: bool = False, **settings: Any) -> AnalysisResult:
    """Analyze a dataset (a registered name or a path), or a model's outputs given as arrays.

    Give either `dataset` or `features` with `logits`/`probs` and `labels` (optionally the test
    arrays, true labels, class names and ids). Tag sets: `labels` (n, C) 0/1 with per-tag sigmoid
    `probs` or `logits`, `class_names` the tags; numeric targets: float `labels` (n,) with `preds`
    (n,) in the target's units (docs/tasks.md). `out` names the run directory (default: a fresh
    one under `cache_dir()/runs`, reported as `result.run_dir`). `settings` override RunConfig
    fields by name. `progress=True` prints the stages as the CLI does.
    """
    if (dataset is None) == (features is None):
        raise ConfigError("give either dataset= (a name or a path) or features= with logits= or probs= and labels=")
    if features is not None:
        if labels is None:
            raise ConfigError("features= needs labels= (the given labels, one per row)")
        y, y_true, y_test, names = ("Y", "Y_true", "Y_test", "tag_names") if np.ndim(labels) == 2 else \
            ("y", "y_true", "y_test", "class_names")
        arrays = {"features": features, "logits": logits, "probs": probs, "preds": preds, y: labels,
                  y_true: true_labels, "features_test": features_test, "logits_test": logits_test,
                  "probs_test": probs_test, "preds_test": preds_test, y_test: labels_test,
                  names: None if class_names is None else np.asarray(class_names), "id": ids}
        digest = hashlib.sha256()
        for key, value in arrays.items():
            if value is not None:
                digest.update(key.encode() + np.ascontiguousarray(np.asarray(value)).tobytes())
        dataset = write_outputs(cache_dir() / "inputs" / f"outputs-{digest.hexdigest()[:16]}.npz", **arrays)
    run_config = config_from_settings(config, **settings)
    run_config = dataclasses.replace(run_config, data=dataclasses.replace(run_config.data, dataset=str(dataset)))
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = cache_dir() / "runs" / f"{Path(str(dataset)).stem}-{stamp}-{os.getpid()}"
    from core.pipeline.runner import Reporter
    from core.pipeline.runner import analyze as run_analysis

    reporter = None
    if progress:
        from core.cli.app import ConsoleReporter

        reporter = ConsoleReporter()
    run = run_analysis(run_config, out, overwrite=overwrite, reporter=reporter or Reporter())
    return AnalysisResult(run.path)
