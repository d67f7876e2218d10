"""Long work (an analysis, a retraining) in daemon threads, with progress the pages poll.

The job registry is process-wide (`st.cache_resource`); the ids of a person's jobs live
in their `st.session_state`. Pages poll a job from an `st.fragment(run_every=...)`, so
the page never freezes while it runs.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from core.auth.roles import Actor, require
from core.errors import ConfigError, GradsiftError
from core.run.reviews import ReviewStore
from core.run.rundir import RunDir


@dataclass
class Job:
    """One piece of long work in a daemon thread; every field is read under `lock` via `snapshot`."""

    kind: str
    title: str
    run_path: str
    started_by: str = ""
    """The name of the actor who launched it."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "running"
    """running, done or failed."""
    stage: str = "starting"
    fraction: float = 0.0
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    def update(self, stage: str | None = None, fraction: float | None = None, message: str | None = None) -> None:
        with self.lock:
            if stage is not None:
                self.stage = stage
            if fraction is not None:
                self.fraction = float(min(max(fraction, 0.0), 1.0))
            if message:
                self.messages.append(message)

    def snapshot(self) -> dict:
        with self.lock:
            return {"id": self.id, "kind": self.kind, "title": self.title, "run_path": self.run_path,
                "started_by": self.started_by,
                    "status": self.status, "stage": self.stage, "fraction": self.fraction,
                    "messages": list(self.messages), "error": self.error, "result": self.result,
                    "seconds": (self.finished or time.time()) - self.started}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests and scripts); True when it ended in time."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.status != "running"


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}


@st.cache_resource(show_spinner=False)
def _registry() -> _Registry:
    return _Registry()


def get_job(job_id: str) -> Job | None:
    return _registry().jobs.get(job_id)


def running_job_for(run_path: str, kind: str | None = None) -> Job | None:
    """A still-running job that writes into `run_path` (any session), if any."""
    target = str(Path(run_path).resolve())
    for job in list(_registry().jobs.values()):
        if job.status == "running" and str(Path(job.run_path).resolve()) == target and kind in (None, job.kind):
            return job
    return None


JOB_ACTIONS = {"analysis": "launch_analysis", "retrain": "retrain", "rerank": "rerank", "conflicts": "find_conflicts"}
"""Job kind → the action (core.auth.roles.ACTIONS) its launcher must be allowed."""


def start_job(kind: str, title: str, run_path: str, work: Callable[[Job], Any], *, actor: Actor | None) -> Job:
    """Run `work(job)` in a daemon thread once `actor` may (core.auth.roles.require: PermissionDenied,
    a GradsiftError, otherwise); its return value becomes `job.result`.

    A GradsiftError ends the job as failed with its one-line message; anything else also
    keeps the traceback's last lines, so a bug shows up in the page instead of vanishing.
    """
    if kind not in JOB_ACTIONS:
        raise ConfigError(f"unknown job kind {kind!r}; valid kinds: {', '.join(JOB_ACTIONS)}")
    require(actor, JOB_ACTIONS[kind])
    registry = _registry()
    job = Job(kind=kind, title=title, run_path=str(run_path), started_by=actor.name)

    def target() -> None:
        try:
            result = work(job)
            with job.lock:
                job.result, job.status, job.fraction = result, "done", 1.0
        except GradsiftError as exc:
            with job.lock:
                job.error, job.status = str(exc), "failed"
        except Exception as exc:  # a bug: keep it visible to the person who started the job
            with job.lock:
                job.error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-3))
                job.status = "failed"
        finally:
            job.finished = time.time()

    with registry.lock:
        registry.jobs[job.id] = job
        job.thread = threading.Thread(target=target, name=f"gradsift-{kind}-{job.id}", daemon=True)
    job.thread.start()
    return job


def analysis_work(config, out: Path) -> Callable[[Job], Any]:
    """The job body of a new analysis: core.pipeline.runner.analyze with a progress reporter."""

    def work(job: Job) -> str:
        from core.pipeline.runner import Reporter, analyze

        class JobReporter(Reporter):
            def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
                job.update(stage=f"{name} ({index + 1}/{total})" + (" cached" if skipped else ""),
                           fraction=index / total)

            def message(self, text: str) -> None:
                job.update(message=text)

        analyze(config, out, reporter=JobReporter())
        return str(out)

    return work


def retrain_work(run_path: str, detector: str, budget: float, mode: str, first_seed: int | None, seeds: int,
                 with_reviews: bool) -> Callable[[Job], Any]:
    """The job body of a retraining over seeds (core.pipeline.retrain.retrain_seeds): per seed, the
    paired k = 0 baseline (cached by core after the first time) and the requested budget, optionally
    with the reviews applied."""

    def work(job: Job) -> dict:
        from core.pipeline.retrain import retrain_seeds

        run = RunDir(run_path)
        reviews = ReviewStore(run_path).edits() if with_reviews else None
        if with_reviews and not reviews.key():
            raise ConfigError("no review decisions to apply yet: confirm, relabel or keep samples on the "
                              "Flagged review page first")

        def epochs(done: int, total: int) -> None:
            job.update(fraction=0.02 + 0.98 * done / max(total, 1), stage=f"training: {done}/{total} epochs")

        job.update(stage=f"retraining without the top {budget:.1%} over {seeds} seed(s)", fraction=0.02)
        summary = retrain_seeds(run, detector, budget, mode=mode, seeds=seeds, first_seed=first_seed,
                                reviews=reviews, progress=epochs)
        return {"accuracy_mean": summary.accuracy_mean, "delta_mean": summary.delta_mean,
                "delta_ci": summary.delta_ci, "seeds": summary.seeds, "rows": summary.rows}

    return work


def rerank_work(run_path: str, method: str | None = None) -> Callable[[Job], Any]:
    """The job body of "re-rank with my decisions" (core.review.rerank.rerank), with its stages as progress."""

    def work(job: Job) -> dict:
        from core.review.config import RerankConfig
        from core.review.rerank import rerank

        config = RerankConfig() if method is None else RerankConfig(method=method)
        return rerank(run_path, config, progress=lambda stage, fraction: job.update(stage=stage,
                                                                                     fraction=fraction)).facts

    return work


def conflicts_work(run_path: str, config) -> Callable[[Job], Any]:
    """The job body of the near-duplicate search (core.review.conflicts.find_conflicts)."""

    def work(job: Job) -> dict:
        from core.review.conflicts import find_conflicts

        def searched(done: int, total: int) -> None:
            job.update(stage=f"searched {done:,} of {total:,} samples", fraction=done / max(total, 1))

        return find_conflicts(run_path, config, progress=searched)[1]

    return work
