"""The Dask side of the executors: model payloads, worker tasks, the client and its checks.

Two-stage workflow (the pipeline's `gradients` then `scores` stage, docs/distributed.md):

1. **Gradients.** The training rows of each gradient model (one model in-sample, one per
   fold when cross-fitting) are cut into shards (`plan_shards`). A shard's task loads
   the model from its `torch.save` state dict (`weights_only=True`) onto the worker's
   device (`core.models.nets.select_device`), runs one forward pass for the last-layer
   factors, computes the per-sample gradients (closed form, or `torch.func` for
   `--layers all`), projects them, and writes its rows straight into the memory-mapped
   temp file that becomes `gradients.npy`. Only the small per-sample arrays
   (`GradientRows`: probabilities, loss, residual, L1/L2 norms) travel back.
2. **Scores.** The client fits each fitted detector on a seeded subsample of each fold
   group (`detector_fit_rows`: every row up to `DETECT_FIT_SAMPLES`, so normal runs fit on
   everything) and workers score row shards of `gradients.npy` (read through a memory
   map) with the fitted estimator. Norm detectors need no task: their columns are the
   norms of step 1.

The execution setting never changes results, which is why it is not part of `RunConfig`:
shard boundaries are multiples of both the forward-pass batch (`FACTOR_BATCH`) and
`GradientConfig.chunk_size`, so every batch a model sees and every chunk a projector
sees is exactly the one a single-process run sees; fitted detectors score rows
independently (`ROW_WISE_DETECTORS`), and those that do not are scored on the client.

Requirements of a cluster: every worker imports the same gradsift (and torch) as the
client, and the run directory lies on a filesystem every worker mounts at the same
path (`check_shared_path` refuses otherwise). Dask is optional: nothing here imports it
until a client is asked for.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import GradientConfig
from core.errors import ConfigError, RunDirError
from core.gradients.projection import Projector
from core.gradients.rows import GradientRows, gradient_rows
from core.models.nets import FeatureModel, build_model, select_device
from core.models.training import load_model_state
from core.pipeline.shards import Shard, alignment_unit, plan_shards, shard_rows
from core.versions import installed_version


@dataclass(frozen=True)
class ModelPayload:
    """A model as it travels to workers: its builder's arguments and `torch.save(state_dict)` bytes."""

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    kind: str
    state: bytes
    device: str
    """The run's `train.device` setting ('auto' picks each worker's own GPU when it has one)."""
    key: str
    """Hash of `state`: workers cache the loaded model under it."""

    @classmethod
    def from_model(cls, model: FeatureModel, name: str, input_shape: Sequence[int], n_classes: int, kind: str,
                   device: str) -> ModelPayload:
        buffer = io.BytesIO()
        torch.save({key: value.detach().cpu() for key, value in model.state_dict().items()}, buffer)
        state = buffer.getvalue()
        return cls(name, tuple(int(s) for s in input_shape), int(n_classes), kind, state, device,
                   sha256(state).hexdigest()[:16])

    def load(self) -> FeatureModel:
        """The model on this machine's device, built fresh and loaded with weights_only=True (no pickle)."""
        state = torch.load(io.BytesIO(self.state), map_location="cpu", weights_only=True)
        model = build_model(self.name, self.input_shape, self.n_classes, self.kind)
        return load_model_state(model, state).to(select_device(self.device))


_MODEL_CACHE: OrderedDict[tuple[int, str], FeatureModel] = OrderedDict()
_MODEL_CACHE_SIZE = 8
_MODEL_CACHE_LOCK = threading.Lock()


def _worker_model(payload: ModelPayload) -> FeatureModel:
    """The payload's model, loaded once per worker thread (torch.func swaps parameters in place,
    so threads must not share a module)."""
    key = (threading.get_ident(), payload.key)
    with _MODEL_CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    model = payload.load()
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return model


def gradient_shard_task(payload: ModelPayload, x_shard: np.ndarray, labels_shard: np.ndarray, rows: np.ndarray,
                        grad_cfg: GradientConfig, projector: Projector | None, param_names: list[str] | None,
                        gradients_path: str, task=None) -> GradientRows:
    """Worker task: one shard's gradients into rows of the temp gradient file (opened r+ through a memory map)."""
    out = np.load(gradients_path, mmap_mode="r+", allow_pickle=False)
    try:
        result = gradient_rows(_worker_model(payload), x_shard, labels_shard, rows, grad_cfg, projector,
                               param_names, out, task=task)
        out.flush()
    finally:
        del out
    return result


def score_shard_task(estimator: Any, gradients_path: str, rows: np.ndarray) -> np.ndarray:
    """Worker task: (b,) float64 scores of gradients.npy rows `rows`, higher = more outlying."""
    gradients = np.load(gradients_path, mmap_mode="r", allow_pickle=False)
    return -np.asarray(estimator.score_samples(np.asarray(gradients[rows])), dtype=np.float64)


def worker_facts() -> dict[str, str]:
    """What a worker runs: gradsift and torch versions, and the device 'auto' selects there."""
    return {"gradsift": installed_version("gradsift"), "torch": torch.__version__, "device": str(select_device())}


@contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask `distributed.Client` for `--scheduler` or `--workers`, or None for neither.

    scheduler: address of a running cluster's scheduler ("tcp://host:8786"); workers: start a
    `LocalCluster` of that many single-threaded worker processes on this machine for the
    duration of the block. Giving both is a ConfigError; so is asking for either without
    `dask[distributed]` installed. The client (and a local cluster) are closed on exit.
    """
    if scheduler is not None and workers is not None:
        raise ConfigError("give either --scheduler (an existing Dask cluster) or --workers (a local one), not both")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError('running on a cluster needs Dask: pip install "dask[distributed]"') from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc})") from exc
        try:
            check_workers(client)
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        # Workers import torch and gradsift (seconds) while this process loads data and trains.
        warming = [client.submit(worker_facts, workers=[address], allow_other_workers=False, pure=False)
                   for address in client.nthreads()]
        yield client
        del warming


def check_workers(client: Any) -> list[dict[str, str]]:
    """Each worker's `worker_facts`; a ConfigError when none are connected or one runs another gradsift/torch."""
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError as exc:
        raise ConfigError("the Dask cluster has no workers (waited 60 s); start some with `dask worker`") from exc
    here = {"gradsift": installed_version("gradsift"), "torch": torch.__version__}
    try:
        facts = client.run(worker_facts)
    except Exception as exc:  # an ImportError on a worker arrives as whatever the worker raised
        raise ConfigError(f"the Dask workers cannot run gradsift ({type(exc).__name__}: {exc}); "
                          "install the same gradsift on every worker") from exc
    for address, worker in facts.items():
        for package, version in here.items():
            if worker[package] != version:
                raise ConfigError(f"Dask worker {address} runs {package} {worker[package]}, this client {version}; "
                                  "install the same versions everywhere")
    return list(facts.values())


def worker_threads(client: Any) -> int:
    """Total worker threads of the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def describe(client: Any) -> str:
    """'local' or 'dask: N workers, T threads', for the manifest's stage facts."""
    if client is None:
        return "local"
    return f"dask: {len(client.nthreads())} workers, {worker_threads(client)} threads"


def check_shared_path(client: Any, path: str | Path) -> None:
    """Refuse (RunDirError) when some worker does not see `path`: the run directory must be shared."""
    seen = client.run(_path_exists, str(path))
    blind = sorted(address for address, exists in seen.items() if not exists)
    if blind:
        raise RunDirError(f"Dask worker(s) {', '.join(blind)} cannot see {path}; the run directory must lie on a "
                          "filesystem every worker mounts at the same path (docs/distributed.md)")


def _path_exists(path: str) -> bool:
    return Path(path).exists()


def run_windowed(client: Any, submit: Callable[[Any], Any], items: Iterable[Any],
                 window: int) -> Iterator[tuple[Any, Any]]:
    """Submit `submit(item)` futures with at most `window` in flight; yield (item, result) as they complete.

    Bounds what sits in cluster memory at once (shard inputs and results). A task's error
    cancels the rest and is re-raised here.
    """
    from distributed import as_completed

    pending = iter(items)
    running = as_completed()
    in_flight: dict[str, tuple[Any, Any]] = {}

    def add(item: Any) -> None:
        future = submit(item)
        in_flight[future.key] = (future, item)
        running.add(future)

    try:
        for item in pending:
            add(item)
            if len(in_flight) >= window:
                break
        for future in running:
            result = future.result()
            _, item = in_flight.pop(future.key)
            future.release()
            following = next(pending, None)
            if following is not None:
                add(following)
            yield item, result
    except BaseException:
        client.cancel([future for future, _ in in_flight.values()])
        raise


def cluster_gradient_rows(client: Any, payloads: Sequence[ModelPayload], x: np.ndarray, labels: np.ndarray,
                          groups: Sequence[np.ndarray], grad_cfg: GradientConfig, projector: Projector | None,
                          param_names: list[str] | None, gradients_path: Path, task=None) -> Iterator[GradientRows]:
    """Run every shard of `groups` on the cluster (model k for group k); yields each shard's `GradientRows`.

    The rows go into the temp gradient file at `gradients_path`, which every worker must see.
    """
    path = str(Path(gradients_path).resolve())
    check_shared_path(client, path)
    threads = worker_threads(client)
    per_shard = shard_rows(max(len(rows) for rows in groups), alignment_unit(grad_cfg.chunk_size), threads)
    model_futures = [client.scatter(payload, broadcast=True, hash=False) for payload in payloads]
    projector_future = None if projector is None else client.scatter(projector, broadcast=True, hash=False)

    def submit(shard: Shard):
        x_future, labels_future = client.scatter([x[shard.rows], labels[shard.rows]], hash=False)
        return client.submit(gradient_shard_task, model_futures[shard.group], x_future, labels_future, shard.rows,
                             grad_cfg, projector_future, param_names, path, task, pure=False)

    for _, result in run_windowed(client, submit, plan_shards(groups, per_shard), window=2 * threads):
        yield result


def cluster_scores(client: Any, estimator: Any, gradients_path: Path, rows: np.ndarray,
                   chunk_size: int) -> np.ndarray:
    """(len(rows),) float64 scores of gradients.npy rows `rows` by a fitted estimator, shards scored on workers."""
    per_shard = shard_rows(len(rows), chunk_size, worker_threads(client))
    estimator_future = client.scatter(estimator, broadcast=True, hash=False)
    path = str(Path(gradients_path).resolve())
    scores = np.zeros(len(rows), np.float64)

    def submit(shard: Shard):
        return client.submit(score_shard_task, estimator_future, path, shard.rows, pure=False)

    for shard, values in run_windowed(client, submit, plan_shards([rows], per_shard), 2 * worker_threads(client)):
        scores[shard.start:shard.start + len(shard.rows)] = values
    return scores
