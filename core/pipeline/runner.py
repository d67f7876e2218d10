"""Config in, run directory out: the resumable analysis pipeline.

Stages, in order (core.pipeline.registry; one module each in core.pipeline.stages; each
records its timing in the manifest when its files are in place):

1. data       load the dataset, store thumbnails, record its fingerprint
2. train      ERM model on the given labels; features and probabilities
3. gradients  per-sample gradients (cross-fitted or in-sample), their L1/L2 norms
              in closed form, and the (projected) gradient matrix
4. scores     every requested detector; higher = more outlying
5. suggest    out-of-fold probabilities, the suggested budget (estimated noise rate) with its
              interval, a suggested label per sample
6. baselines  influence-function and label-quality scores, for comparison
7. embedding  2-D UMAP/PCA map of gradient space
8. samples    the flagging decision (manifest `flagging`) and samples.parquet, the table
              the dashboard reads
9. evaluate   the analyzed model's test accuracy: the only stage that reads the test labels
10. retrain   test accuracy with and without the flagged samples, over seeds

A rerun on the same directory and config skips the stages already complete, so a
killed run resumes where it stopped and gives the same result; a rerun with another config
re-runs only the stages whose inputs changed (core.pipeline.open_run): a new budget or primary
detector re-flags and retrains without touching the model, gradients or map.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.data.base import OUTPUTS
from core.data.load import load_dataset
from core.detect.flagging import Flagging, primary_of
from core.errors import ConfigError
from core.gradients.registry import GRADIENT_MODES
from core.influence.registry import OOF_METHODS
from core.models.choice import ModelChoice
from core.models.nets import build_model, check_model
from core.models.registry import MODELS
from core.models.training import starting_weights
from core.pipeline.artifacts import (
    check_dataset_fingerprint,
    inputs_for_model,
    resolve_model,
)
from core.pipeline.context import Reporter, StageContext
from core.pipeline.executors import executor_for
from core.pipeline.gradient_modes import from_stored_features
from core.pipeline.open_run import open_run, training_samples_key
from core.pipeline.registry import RETRAIN_MODES
from core.pipeline.registry import STAGES as STAGE_REGISTRY
from core.run.rundir import RunDir

STAGES = tuple(STAGE_REGISTRY.names())
"""Stage names in pipeline order."""

__all__ = ["STAGES", "Reporter", "analyze"]


def analyze(config: RunConfig, out: str | Path, *, overwrite: bool = False, reporter: Reporter | None = None,
            retrain_after: bool = True, client: Any = None) -> RunDir:
    """Run (or resume) every stage for `config` into directory `out`; returns the run directory.

    client: a `dask.distributed.Client` (see `core.pipeline.dask_cluster.open_client`) to run
    the gradient and scoring stages shard by shard on its workers, or None to run everything
    in this process. Where the work runs never changes the results, so it is not part of
    `config`; the run directory must then be on a filesystem every worker sees.
    """
    reporter = reporter or Reporter()
    dataset = load_dataset(config.data, config.seed)
    choice = resolve_model(config, dataset)
    model_name = choice.name
    check_model(model_name, dataset.kind)
    dataset = inputs_for_model(dataset, model_name)
    if dataset.kind == OUTPUTS:
        check_outputs_config(config)
    else:
        tokens = MODELS.entry(model_name).meta.get("inputs") == "tokens"
        if client is not None and tokens:
            raise ConfigError(f"model {model_name} runs in one process; drop --workers / --scheduler")
        build_model(model_name, dataset.input_shape, dataset.n_classes, dataset.kind,
                    starting_weights(model_name, config.train, dataset.encoder).state if tokens else None)
    if config.flag.budget is not None:  # a budget that empties the training set is refused before any work
        Flagging.resolve(primary_of(config.flag.primary, config.detect.detectors, dataset.task), config.flag.budget,
                         len(dataset.x_train), n_classes=dataset.n_classes)
    # Only now, with the input known to be usable, is anything written.
    run = RunDir(out)
    with run.writing():
        _run_stages(run, config, dataset, choice, overwrite, reporter, retrain_after, client)
    return run


def check_outputs_config(config: RunConfig) -> None:
    """A run on handed-in outputs has no network: refuse what would need one, before any work."""
    if not from_stored_features(config.gradients):
        modes = " or ".join(GRADIENT_MODES.where(stored_outputs=True))
        raise ConfigError(f"an outputs file supports in-sample last-layer gradients only (gradients.mode {modes}, "
                          "gradients.layers last): there is no network to cross-fit or differentiate")
    for field_name, registry, name in (("baselines.oof", OOF_METHODS, config.baselines.oof),
                                       ("retrain.mode", RETRAIN_MODES, config.retrain.mode)):
        if registry.entry(name).meta["needs_model"]:
            allowed = " or ".join(repr(other) for other in registry.where(needs_model=False))
            raise ConfigError(f"{field_name} must be {allowed} for an outputs file: there is no model to retrain")


def _run_stages(run: RunDir, config: RunConfig, dataset, choice: ModelChoice, overwrite: bool, reporter: Reporter,
                retrain_after: bool, client: Any) -> None:
    manifest, notes = open_run(run, config, overwrite=overwrite, samples_key=training_samples_key(dataset))
    for note in notes:
        reporter.message(note)
    if "data" in manifest["stages"]:
        check_dataset_fingerprint(run, manifest, config, dataset)
    manifest.setdefault("model", {}).update(name=choice.name, choice=choice.reason)
    reporter.message(f"model {choice.name}: {choice.reason}")
    ctx = StageContext(run, config, manifest, dataset, reporter, executor_for(client))
    stages = STAGES if retrain_after else STAGES[:-1]
    prints = manifest["stage_fingerprints"]
    reran: set[str] = set()
    for index, name in enumerate(stages):
        entry = STAGE_REGISTRY.entry(name)
        if not reran.intersection(entry.meta["needs"]) and run.stage_done(manifest, name, entry.meta["files"],
                                                                        prints[name]):
            reporter.stage(name, index, len(stages), skipped=True)
            continue
        reran.add(name)  # a stage that re-runs re-runs every stage that reads its files
        reporter.stage(name, index, len(stages), skipped=False)
        started = time.perf_counter()
        facts = entry.load()(ctx)
        # The process's peak resident memory so far: the stage that raises it is the one to look at.
        facts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run.finish_stage(manifest, name, time.perf_counter() - started, prints[name], **facts)
