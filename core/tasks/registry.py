"""The registry of task kinds (light: nothing here imports numpy or torch).

A task target is a `core.tasks.base.Task` subclass; `core.tasks.base.make_task` builds one fitted to a
dataset's given labels. Meta `metric`: the primary test metric of retraining, `higher` whether a larger
value of it is better; `detector`: the primary detector by default (core.detect.flagging.primary_of), chosen by
measurement (docs/detectors.md, docs/tasks.md). Adding a kind is one module in core/tasks and one line here.
"""

from core.registry import Registry

TASKS = Registry("task")
TASKS.add("classification", "one class per sample: a softmax head under cross-entropy; r = p − e_y",
          "core.tasks.classification:Classification", metric="accuracy", higher=True, detector="l2")
TASKS.add("multilabel", "a set of tags per sample: one sigmoid per tag under binary cross-entropy summed over "
          "the tags; r = σ(z) − y", "core.tasks.multilabel:MultiLabel", metric="micro_f1", higher=True,
          detector="l2")
TASKS.add("regression", "a number per sample: a linear output under half the squared error of the standardized "
          "target; r = (ŷ − y) / scale", "core.tasks.regression:Regression", metric="rmse", higher=False,
          detector="residual")
