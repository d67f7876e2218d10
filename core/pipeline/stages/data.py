"""Stage 1, data: store train and test thumbnails of image datasets (test texts of text datasets) and record
the dataset's facts and fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.base import IMAGE, TEXT
from core.evaluate.report import encoder_line
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_npy, write_parquet


def run(ctx: StageContext) -> dict:
    dataset = ctx.dataset
    if dataset.kind == IMAGE:
        # (n, C, H, W) -> (n, H, W, C): the layout image widgets expect.
        write_npy(ctx.run.file(schema.THUMBNAILS), np.transpose(dataset.x_train, (0, 2, 3, 1)))
        write_npy(ctx.run.file(schema.TEST_THUMBNAILS), np.transpose(dataset.x_test, (0, 2, 3, 1)))
    if dataset.kind == TEXT:
        write_parquet(ctx.run.file(schema.TEST_TEXTS), pd.DataFrame({schema.TEXT: list(dataset.texts_test)}))
    noisy = None if dataset.true_train is None else int(ctx.task.is_wrong(dataset.given_train,
                                                                          dataset.true_train).sum())
    ctx.manifest["task"] = ctx.task.as_dict()
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
    if dataset.encoder is not None:
        ctx.manifest["dataset"]["encoder"] = dataset.encoder
        ctx.reporter.message(encoder_line(dataset.encoder))
    return {}
