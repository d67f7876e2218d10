"""Config in, run directory out: the resumable analysis pipeline.

Stages, in order (each records its timing in the manifest when its files are in place):

1. data       load the dataset, store thumbnails, record its fingerprint
2. train      ERM model on the given labels; features and probabilities
3. gradients  per-sample gradients (cross-fitted or in-sample), their L1/L2 norms
              in closed form, and the (projected) gradient matrix
4. scores     every requested detector; higher = more outlying
5. baselines  influence-function and label-quality scores, for comparison (core.influence.baselines)
6. embedding  2-D UMAP/PCA map of gradient space
7. samples    samples.parquet, the table the dashboard reads
8. evaluate   test accuracy before and after pruning the primary detector's flags

A rerun on the same directory and config skips the stages already complete, so a
killed run resumes where it stopped and gives the same result.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold, StratifiedKFold

from core.pipeline import executors as distributed
from core.run import schema
from core.influence.baselines import LastLayerState, check_baseline_names, influence_baselines, label_quality_baselines
from core.run.rundir import AtomicNpyWriter, RunDir, atomic_write, write_npy, write_npz, write_parquet
from core.config import GradientConfig, RunConfig
from core.data import IMAGE, Dataset, load_dataset
from core.detect.estimators import flag, get_detector
from core.evaluate.embedding import embed_2d
from core.errors import RunDirError
from core.gradients.last_layer import head_factors, last_layer_factors, select_parameters
from core.models.nets import FeatureModel, build_model
from core.gradients.projection import make_projector
from core.models.training import (
    TrainResult,
    load_model_state,
    predict_probs,
    to_tensor,
    train_model,
)

STAGES = ("data", "train", "gradients", "scores", "baselines", "embedding", "samples", "evaluate")


class Reporter:
    """Receives progress; the CLI prints it, the dashboard draws it. The default is silent."""

    show_bars = False

    def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class _Context:
    run: RunDir
    config: RunConfig
    manifest: dict
    dataset: Dataset
    reporter: Reporter
    client: Any = None
    """A dask.distributed Client that runs the gradient and scoring shards, or None (this process)."""

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]


def resolve_model_name(config: RunConfig, dataset: Dataset) -> str:
    return dataset.default_model if config.train.model == "auto" else config.train.model


def load_run_dataset(run: RunDir, manifest: dict, config: RunConfig) -> Dataset:
    """Reload the run's dataset and refuse if it changed since the run was made."""
    dataset = load_dataset(config.data, config.seed)
    _check_fingerprint(run, manifest, config, dataset)
    return dataset


def run_test_labels(run: RunDir, manifest: dict, config: RunConfig, dataset: Dataset | None = None) -> np.ndarray:
    """(n_test,) int64 test labels: cached in erm_outputs.npz by the train stage, else (older runs)
    from `dataset` or a reload of the run's dataset, which spares a CIFAR pickle load per request."""
    erm = run.read_npz(schema.ERM_OUTPUTS)
    if "test_labels" in erm:
        return erm["test_labels"].astype(np.int64, copy=False)
    return (dataset or load_run_dataset(run, manifest, config)).y_test


def _check_fingerprint(run: RunDir, manifest: dict, config: RunConfig, dataset: Dataset) -> None:
    recorded = manifest.get("dataset", {}).get("fingerprint")
    if recorded and recorded != dataset.fingerprint():
        raise RunDirError(
            f"the dataset {config.data.dataset!r} changed since {run.path} was analyzed "
            f"(fingerprint {recorded} -> {dataset.fingerprint()}); analyze it into a new directory"
        )


def load_run_model(run: RunDir, manifest: dict, dataset: Dataset) -> FeatureModel:
    """The analyzed model from model.pt, loaded with weights_only=True (no pickle)."""
    path = run.file(schema.MODEL)
    if not path.exists():
        raise RunDirError(f"{path} is missing; rerun `gradsift analyze` on this directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RunDirError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc}); "
                          "delete it and rerun `gradsift analyze`") from exc
    model = build_model(manifest["model"]["name"], dataset.input_shape, dataset.n_classes, dataset.kind,
                        pretrained=False)
    try:
        return load_model_state(model, state)
    except (RuntimeError, KeyError) as exc:
        raise RunDirError(f"{path} does not match model {manifest['model']['name']!r}: {exc}") from exc


# -- stages -----------------------------------------------------------------------------
def _stage_data(ctx: _Context) -> dict:
    dataset = ctx.dataset
    if dataset.kind == IMAGE:
        # (n, C, H, W) -> (n, H, W, C): the layout image widgets expect.
        write_npy(ctx.run.file(schema.THUMBNAILS), np.transpose(dataset.x_train, (0, 2, 3, 1)))
    noisy = None if dataset.true_train is None else int((dataset.true_train != dataset.given_train).sum())
    ctx.manifest["dataset"] = {
        "name": dataset.name,
        "kind": dataset.kind,
        "fingerprint": dataset.fingerprint(),
        "n_train": len(dataset.x_train),
        "n_test": len(dataset.x_test),
        "input_shape": list(dataset.input_shape),
        "class_names": dataset.class_names,
        "n_noisy": noisy,
        "noise_rate": None if noisy is None else noisy / len(dataset.x_train),
        "notes": dataset.notes,
    }
    return {}


def _train(ctx: _Context, x: np.ndarray, labels: np.ndarray, seed: int, description: str) -> TrainResult:
    return train_model(ctx.model_name, ctx.dataset.kind, x, labels, ctx.dataset.n_classes, ctx.config.train,
                       seed, description=description, show_bar=ctx.reporter.show_bars)


def _stage_train(ctx: _Context) -> dict:
    data = ctx.dataset
    result = _train(ctx, data.x_train, data.given_train, ctx.config.seed, "train")
    model = result.model

    def save(handle) -> None:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        handle.write(buffer.getvalue())

    atomic_write(ctx.run.file(schema.MODEL), save)
    # One forward pass per split gives features and probabilities; the in-sample gradient
    # stage reads these features back instead of running the backbone again.
    train = last_layer_factors(model, data.x_train, data.given_train, batch_size=distributed.FACTOR_BATCH,
                               input_transform=to_tensor)
    test = last_layer_factors(model, data.x_test, data.y_test, batch_size=distributed.FACTOR_BATCH,
                              input_transform=to_tensor)
    train_probs, test_probs = train.probs, test.probs
    write_npy(ctx.run.file(schema.FEATURES), train.features)
    write_npy(ctx.run.file(schema.TEST_FEATURES), test.features)
    write_npz(ctx.run.file(schema.ERM_OUTPUTS), train_probs=train_probs, test_probs=test_probs,
              test_labels=data.y_test)
    test_accuracy = float((test_probs.argmax(1) == data.y_test).mean())
    ctx.manifest["model"].update({
        "feature_dim": model.feature_dim,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test_accuracy": test_accuracy,
        "train_accuracy_given": float((train_probs.argmax(1) == data.given_train).mean()),
    })
    ctx.reporter.message(f"test accuracy {test_accuracy:.4f} (best epoch {result.best_epoch}/{result.epochs_run})")
    return {"test_accuracy": test_accuracy}


def _fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(n,) int fold of each sample: stratified when every class has at least `folds` samples."""
    fold_of = np.empty(len(labels), dtype=np.int64)
    counts = np.bincount(labels)
    splitter = (StratifiedKFold if counts[counts > 0].min() >= folds else KFold)(
        n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fold_of[held_out] = fold
    return fold_of


def _fold_models(ctx: _Context, folds: int) -> tuple[list[FeatureModel], np.ndarray]:
    """K models, model k trained (same recipe, seed + 1 + k) on every fold but k; and each sample's fold."""
    data = ctx.dataset
    fold_of = _fold_assignment(data.given_train, folds, ctx.config.seed)
    models = []
    for fold in range(folds):
        keep = fold_of != fold
        ctx.reporter.message(f"cross-fitting: fold {fold + 1}/{folds}")
        result = _train(ctx, data.x_train[keep], data.given_train[keep], ctx.config.seed + 1 + fold,
                        f"fold {fold + 1}/{folds}")
        models.append(result.model)
    return models, fold_of


def _gradient_models(ctx: _Context) -> tuple[list[FeatureModel], np.ndarray]:
    """The model(s) whose gradients are taken, and each sample's fold (-1 = in-sample)."""
    grad_cfg = ctx.config.gradients
    if grad_cfg.mode == "in_sample":
        model = load_run_model(ctx.run, ctx.manifest, ctx.dataset)
        return [model], np.full(len(ctx.dataset.x_train), -1, dtype=np.int64)
    return _fold_models(ctx, grad_cfg.folds)


def _stage_gradients(ctx: _Context) -> dict:
    data, grad_cfg, seed = ctx.dataset, ctx.config.gradients, ctx.config.seed
    n = len(data.x_train)
    models, fold_of = _gradient_models(ctx)
    groups = [np.flatnonzero(fold_of == (-1 if len(models) == 1 else f)) for f in range(len(models))]

    last_layer = grad_cfg.layers == "last"
    if last_layer:
        names = None
        feat_dim = models[0].feature_dim
        width = data.n_classes * (feat_dim + int(grad_cfg.include_bias))
    else:
        names = select_parameters(models[0], grad_cfg.layers)
        params = dict(models[0].named_parameters())
        width = int(sum(params[name].numel() for name in names))
        feat_dim = None
    projector = make_projector(
        grad_cfg.projection, n, width, n_classes=data.n_classes if last_layer else None,
        feat_dim=feat_dim if last_layer else None, include_bias=grad_cfg.include_bias,
        out_dim=grad_cfg.projection_dim, seed=seed)
    out_width = projector.out_dim if projector is not None else width

    probs = np.zeros((n, data.n_classes), np.float32)
    loss = np.zeros(n, np.float32)
    residual_dir = np.zeros((n, data.n_classes), np.float32)
    grad_l1 = np.zeros(n, np.float64)
    grad_l2 = np.zeros(n, np.float64)
    writer = AtomicNpyWriter(ctx.run.file(schema.GRADIENTS), (n, out_width))
    try:
        for part in _gradient_parts(ctx, models, groups, projector, names, writer):
            probs[part.rows], loss[part.rows], residual_dir[part.rows] = part.probs, part.loss, part.residual
            grad_l1[part.rows], grad_l2[part.rows] = part.grad_l1, part.grad_l2
        writer.commit()
    except BaseException:
        writer.abort()
        raise

    write_npz(ctx.run.file(schema.FACTORS), probs=probs, loss=loss, fold=fold_of, grad_l1=grad_l1,
              grad_l2=grad_l2, residual=residual_dir)
    ctx.manifest["gradients"] = {
        "mode": grad_cfg.mode,
        "layers": grad_cfg.layers,
        "width": width,
        "stored_width": out_width,
        "projection": type(projector).__name__ if projector is not None else None,
        "layout": "kron(p - e_y, [h, 1])" if last_layer and grad_cfg.include_bias else
                  ("kron(p - e_y, h)" if last_layer else "parameters in named_parameters order"),
    }
    executor = "this process, head on stored features" if _from_stored_features(grad_cfg) else \
        distributed.describe(ctx.client)
    return {"width": width, "stored_width": out_width, "executor": executor}


def _from_stored_features(grad_cfg: GradientConfig) -> bool:
    """In-sample last-layer gradients come from the train stage's features.npy: no second backbone pass."""
    return grad_cfg.mode == "in_sample" and grad_cfg.layers == "last"


def _gradient_parts(ctx: _Context, models: list[FeatureModel], groups: list[np.ndarray], projector,
                    names: list[str] | None, writer: AtomicNpyWriter) -> Iterator[distributed.GradientRows]:
    """Each group's gradients into the writer's rows (model k for group k), yielding the small arrays.

    In this process a group is one piece; on a cluster it is cut into shards aligned so that
    every batch and chunk is the same as here (core.pipeline.executors), so the numbers are too.
    """
    data, grad_cfg = ctx.dataset, ctx.config.gradients
    if _from_stored_features(grad_cfg):
        # The train stage stored this model's features: only the head runs (cheap, so never sharded).
        factors = head_factors(models[0].head, ctx.run.read_npy(schema.FEATURES), data.given_train,
                               batch_size=distributed.FACTOR_BATCH)
        yield distributed.factor_gradient_rows(factors, groups[0], grad_cfg, projector, writer.array)
        return
    if ctx.client is None:
        for model, rows in zip(models, groups):
            yield distributed.gradient_rows(model, data.x_train[rows], data.given_train[rows], rows, grad_cfg,
                                            projector, names, writer.array)
        return
    payloads = [distributed.ModelPayload.from_model(model, ctx.model_name, data.input_shape, data.n_classes,
                                                    data.kind, ctx.config.train.device) for model in models]
    writer.array.flush()  # the .npy header is on disk before a worker maps the file
    yield from distributed.cluster_gradient_rows(ctx.client, payloads, data.x_train, data.given_train, groups,
                                                 grad_cfg, projector, names, Path(writer.tmp_name))


def _stage_scores(ctx: _Context) -> dict:
    factors = ctx.run.read_npz(schema.FACTORS)
    gradients = None
    columns: dict[str, np.ndarray] = {}
    detect, seed = ctx.config.detect, ctx.config.seed
    fold_of = factors["fold"]
    # Cross-fitted gradients of different folds live in different models' parameter
    # spaces, so a fitted detector is fitted per fold (IsolationForest's scores are
    # normalized by the expected path length, so equal-size folds are comparable).
    groups = [np.flatnonzero(fold_of == fold) for fold in np.unique(fold_of)]
    fit_rows = [distributed.detector_fit_rows(rows, seed, group) for group, rows in enumerate(groups)]
    for name in detect.detectors:
        spec = get_detector(name)
        if spec.norm_column is not None:
            columns[schema.score_column(name)] = factors[spec.norm_column]
            continue
        if gradients is None:
            gradients = ctx.run.read_npy(schema.GRADIENTS, mmap=True)
        scores = np.zeros(len(gradients), np.float64)
        for rows, fit in zip(groups, fit_rows):
            scores[rows] = _detector_scores(ctx, name, spec.build(seed, detect.iforest_trees), gradients, rows, fit)
        columns[schema.score_column(name)] = scores
    write_parquet(ctx.run.file(schema.SCORES), pd.DataFrame(columns))
    ctx.manifest["scores"] = {"fit_cap": distributed.DETECT_FIT_SAMPLES,
                              "fit_rows": [int(len(fit)) for fit in fit_rows]}
    return {"executor": distributed.describe(ctx.client)}


def _detector_scores(ctx: _Context, name: str, estimator, gradients: np.ndarray, rows: np.ndarray,
                     fit_rows: np.ndarray) -> np.ndarray:
    """(len(rows),) float64 scores of one fold group, higher = more outlying.

    The estimator fits on `fit_rows` (every row of the group unless it exceeds
    `distributed.DETECT_FIT_SAMPLES`). When it fitted on every row, this process scores
    that same matrix at once, exactly as `outlier_scores` does; otherwise, and for every
    row-wise detector on a cluster, rows are scored in shards read from gradients.npy.
    """
    fit_matrix = gradient_block(gradients, fit_rows)
    estimator.fit(fit_matrix)
    if ctx.client is not None and name in distributed.ROW_WISE_DETECTORS:
        del fit_matrix
        return distributed.cluster_scores(ctx.client, estimator, ctx.run.file(schema.GRADIENTS), rows,
                                          ctx.config.gradients.chunk_size)
    if len(fit_rows) == len(rows):
        return -np.asarray(estimator.score_samples(fit_matrix), dtype=np.float64)
    del fit_matrix
    return distributed.local_scores(estimator, gradients, rows, ctx.config.gradients.chunk_size)


def gradient_block(gradients: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """gradients[rows]: a view of the memory map when the rows are consecutive (a detector that
    samples rows, like Isolation Forest, then reads only those), else an in-memory copy."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return gradients[rows[0]:rows[-1] + 1]
    return np.asarray(gradients[rows])


def _out_of_fold_probs(ctx: _Context) -> np.ndarray:
    """(n, C) probabilities from models that never saw the sample: cross-fitted ones when available."""
    if ctx.config.gradients.mode == "cross_fit":
        return ctx.run.read_npz(schema.FACTORS)["probs"]
    models, fold_of = _fold_models(ctx, ctx.config.baselines.folds)
    probs = np.zeros((len(fold_of), ctx.dataset.n_classes), np.float32)
    for fold, model in enumerate(models):
        rows = np.flatnonzero(fold_of == fold)
        probs[rows] = predict_probs(model, ctx.dataset.x_train[rows])
    return probs


def _stage_baselines(ctx: _Context) -> dict:
    cfg, data = ctx.config.baselines, ctx.dataset
    columns: dict[str, np.ndarray] = {}
    notes: list[str] = []
    if cfg.enabled:
        erm = ctx.run.read_npz(schema.ERM_OUTPUTS)
        state = LastLayerState(
            features=ctx.run.read_npy(schema.FEATURES), probs=erm["train_probs"], labels=data.given_train,
            test_features=ctx.run.read_npy(schema.TEST_FEATURES), test_probs=erm["test_probs"],
            test_labels=data.y_test, include_bias=ctx.config.gradients.include_bias,
            weight_decay=ctx.config.train.weight_decay)
        influence = influence_baselines(state, cfg.influence, cfg.max_gradient_values)
        columns.update(influence.columns)
        notes += influence.notes
        if cfg.label_quality:
            quality = label_quality_baselines(data.given_train, _out_of_fold_probs(ctx), cfg.label_quality)
            columns.update(quality.columns)
    frame = pd.DataFrame({schema.score_column(name): values for name, values in columns.items()},
                         index=pd.RangeIndex(len(data.x_train)))
    write_parquet(ctx.run.file(schema.BASELINES), frame)
    ctx.manifest["baselines"] = {
        "influence": [m for m in cfg.influence if m in columns],
        "label_quality": [m for m in cfg.label_quality if m in columns],
        "validation": "test split (influence)",
        "notes": notes,
    }
    for note in notes:
        ctx.reporter.message(note)
    return {}


def _stage_embedding(ctx: _Context) -> dict:
    factors = ctx.run.read_npz(schema.FACTORS)
    if ctx.config.gradients.mode == "in_sample":
        vectors, source = _map_inputs(ctx.run.read_npy(schema.GRADIENTS, mmap=True), ctx.config)
    else:
        # Fold models have unrelated hidden spaces; the logit-space direction of the gradient,
        # scaled to its norm, is the part whose coordinates mean the same under every fold.
        residual = factors["residual"]
        norm = np.linalg.norm(residual, axis=1, keepdims=True)
        vectors = residual / np.where(norm > 0, norm, 1.0) * factors["grad_l2"][:, None]
        source = "logit-space gradient direction x gradient L2 norm"
    coords = embed_2d(vectors, ctx.config.embed, ctx.config.seed)
    flat_inputs = ctx.dataset.x_train.reshape(len(ctx.dataset.x_train), -1).astype(np.float32)
    if flat_inputs.shape[1] > 2:
        feature_map = PCA(n_components=2, random_state=ctx.config.seed).fit_transform(flat_inputs)
    else:
        feature_map = np.column_stack([flat_inputs, np.zeros((len(flat_inputs), 2 - flat_inputs.shape[1]))])
    write_parquet(ctx.run.file(schema.EMBEDDING), pd.DataFrame({
        schema.UMAP_X: coords[:, 0], schema.UMAP_Y: coords[:, 1],
        schema.FEATURE_X: feature_map[:, 0].astype(np.float32), schema.FEATURE_Y: feature_map[:, 1].astype(np.float32),
    }))
    ctx.manifest["embedding"] = {"method": ctx.config.embed.method, "input": source}
    return {}


EMBED_MAX_WIDTH = 1024
"""Widest gradient rows the 2-D map reads as they are. Wider stored gradients (`--projection
none` on a wide head) are sparse-projected to this width chunk by chunk first, so the map
never loads an (n, width) matrix of unbounded width into memory."""


def _map_inputs(gradients: np.ndarray, config: RunConfig) -> tuple[np.ndarray, str]:
    """The map's input rows from the stored (memory-mapped) gradients, and what they are."""
    n, width = gradients.shape
    if width <= EMBED_MAX_WIDTH:
        return np.asarray(gradients), "gradients"
    projector = make_projector("sparse", n, width, out_dim=EMBED_MAX_WIDTH, seed=config.seed)
    vectors = np.empty((n, EMBED_MAX_WIDTH), np.float32)
    chunk = config.gradients.chunk_size
    for start in range(0, n, chunk):
        vectors[start:start + chunk] = projector.project(np.asarray(gradients[start:start + chunk]))
    return vectors, f"gradients, sparse-projected from {width} to {EMBED_MAX_WIDTH} dims"


def _stage_samples(ctx: _Context) -> dict:
    data, detect = ctx.dataset, ctx.config.detect
    factors = ctx.run.read_npz(schema.FACTORS)
    scores = pd.concat([ctx.run.read_parquet(schema.SCORES), ctx.run.read_parquet(schema.BASELINES)], axis=1)
    embedding = ctx.run.read_parquet(schema.EMBEDDING)
    n = len(data.x_train)
    probs = factors["probs"]
    pred = probs.argmax(axis=1)
    true = pd.array(data.true_train, dtype="Int64") if data.true_train is not None else pd.array([pd.NA] * n, dtype="Int64")
    noisy = (pd.array(data.true_train != data.given_train, dtype="boolean") if data.true_train is not None
             else pd.array([pd.NA] * n, dtype="boolean"))
    frame = pd.DataFrame({
        schema.SAMPLE_ID: np.arange(n, dtype=np.int64),
        schema.SOURCE: data.source_train,
        schema.SPLIT: "train",
        schema.GIVEN_LABEL: data.given_train,
        schema.TRUE_LABEL: true,
        schema.IS_NOISY: noisy,
        schema.PRED_LABEL: pred.astype(np.int64),
        schema.CONFIDENCE: probs.max(axis=1),
        schema.GIVEN_PROB: probs[np.arange(n), data.given_train],
        schema.LOSS: factors["loss"],
        schema.FOLD: factors["fold"],
        schema.GRAD_L1: factors["grad_l1"],
        schema.GRAD_L2: factors["grad_l2"],
    })
    for column in scores.columns:
        frame[column] = scores[column].to_numpy()
    frame[schema.IS_FLAGGED] = flag(frame[schema.score_column(detect.primary)].to_numpy(), detect.budget)
    for column in embedding.columns:
        frame[column] = embedding[column].to_numpy()
    frame[schema.THUMBNAIL_ROW] = pd.array(np.arange(n) if data.kind == IMAGE else [pd.NA] * n, dtype="Int64")
    write_parquet(ctx.run.file(schema.SAMPLES), frame)
    return {"n_flagged": int(frame[schema.IS_FLAGGED].sum())}


def _stage_evaluate(ctx: _Context) -> dict:
    from core.pipeline.retrain import retrain  # retrain imports this module

    detect = ctx.config.detect
    retrain(ctx.run, detect.primary, 0.0, mode="full", dataset=ctx.dataset)
    row = retrain(ctx.run, detect.primary, detect.budget, mode="full", dataset=ctx.dataset,
                  reporter=ctx.reporter)
    ctx.reporter.message(
        f"test accuracy after removing {row['n_removed']} flagged samples: {row['test_accuracy']:.4f}")
    return {"test_accuracy_after": row["test_accuracy"]}


_STAGE_FUNCTIONS: dict[str, tuple[Callable[[_Context], dict], tuple[str, ...]]] = {
    "data": (_stage_data, ()),
    "train": (_stage_train, (schema.MODEL, schema.FEATURES, schema.TEST_FEATURES, schema.ERM_OUTPUTS)),
    "gradients": (_stage_gradients, (schema.GRADIENTS, schema.FACTORS)),
    "scores": (_stage_scores, (schema.SCORES,)),
    "baselines": (_stage_baselines, (schema.BASELINES,)),
    "embedding": (_stage_embedding, (schema.EMBEDDING,)),
    "samples": (_stage_samples, (schema.SAMPLES,)),
    "evaluate": (_stage_evaluate, (schema.RETRAIN,)),
}


def analyze(config: RunConfig, out: str | Path, *, overwrite: bool = False, reporter: Reporter | None = None,
            retrain_after: bool = True, client: Any = None) -> RunDir:
    """Run (or resume) every stage for `config` into directory `out`; returns the run directory.

    client: a `dask.distributed.Client` (see `core.pipeline.executors.open_client`) to run the
    gradient and scoring stages shard by shard on its workers, or None to run everything
    in this process. Where the work runs never changes the results, so it is not part of
    `config`; the run directory must then be on a filesystem every worker sees.
    """
    reporter = reporter or Reporter()
    for name in config.detect.detectors:
        get_detector(name)
    check_baseline_names(config.baselines)
    dataset = load_dataset(config.data, config.seed)
    model_name = resolve_model_name(config, dataset)
    build_model(model_name, dataset.input_shape, dataset.n_classes, dataset.kind, pretrained=False)
    # Only now, with the input known to be usable, is anything written.
    run = RunDir(out)
    manifest = run.start(config, overwrite=overwrite)
    if overwrite:
        manifest["stages"] = {}
    _check_fingerprint(run, manifest, config, dataset)
    manifest.setdefault("model", {})["name"] = model_name
    ctx = _Context(run, config, manifest, dataset, reporter, client)
    stages = STAGES if retrain_after else STAGES[:-1]
    invalidated = False
    for index, name in enumerate(stages):
        function, files = _STAGE_FUNCTIONS[name]
        if not invalidated and run.stage_done(manifest, name, files):
            reporter.stage(name, index, len(stages), skipped=True)
            continue
        invalidated = True  # every later stage depends on this one's output
        reporter.stage(name, index, len(stages), skipped=False)
        started = time.perf_counter()
        facts = function(ctx)
        run.finish_stage(manifest, name, time.perf_counter() - started, **facts)
    return run
