"""What every stage receives: the run directory, its config and manifest, the data, progress, the executor."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from core.config import RunConfig
from core.data.base import Dataset
from core.pipeline.executors import Executor
from core.run.rundir import RunDir
from core.tasks.base import Task, make_task


class Reporter:
    """Receives progress; the CLI prints it, the dashboard draws it. The default is silent."""

    show_bars = False

    def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class StageContext:
    run: RunDir
    config: RunConfig
    manifest: dict
    dataset: Dataset
    reporter: Reporter
    executor: Executor
    """Runs the gradient and scoring work (this process or a Dask cluster); never changes results."""

    @functools.cached_property
    def task(self) -> Task:
        """The dataset's task kind, fitted to its given training labels (a regression's scale): every stage's loss."""
        return make_task(self.dataset.task, self.dataset.given_train, huber_delta=self.config.train.huber_delta)

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]
