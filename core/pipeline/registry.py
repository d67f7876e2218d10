"""The registries of analysis stages and retraining modes (light: nothing here imports torch).

STAGES, in pipeline order: target `run(ctx: StageContext) -> dict` of facts recorded in
the manifest; meta `files`, the run-directory files the stage writes (a stage counts as
done only when its record, with the fingerprint it has now, and all its files are present).
RETRAIN_MODES: how `gradsift retrain` retrains after pruning: target `(run, keep, labels, seed, *,
test_labels, unpruned, dataset, reporter, progress, what) -> (test_accuracy, n_train)` (core.pipeline.retrain);
meta `needs_model`, whether it trains the run's network (impossible for a run on handed-in outputs).
"""

from core.registry import Registry
from core.run import schema

STAGES = Registry("stage")
STAGES.add("data", "load the dataset, store thumbnails, record its fingerprint",
           "core.pipeline.stages.data:run", files=(), reads=("data",), needs=(),
           optional=(schema.THUMBNAILS, schema.TEST_THUMBNAILS, schema.TEST_TEXTS))
STAGES.add("train", "ERM model on the given labels; features and probabilities",
           "core.pipeline.stages.train:run",
           files=(schema.MODEL, schema.FEATURES, schema.TEST_FEATURES, schema.ERM_OUTPUTS),
           reads=("train",), needs=("data",), optional=(schema.BASELINE_OUTPUTS,))
STAGES.add("gradients", "per-sample gradients, their L1/L2 norms, the (projected) matrix",
           "core.pipeline.stages.gradients:run", files=(schema.GRADIENTS, schema.FACTORS),
           reads=("gradients",), needs=("train",))
STAGES.add("scores", "every requested detector; higher = more outlying",
           "core.pipeline.stages.scores:run", files=(schema.SCORES,), reads=("detect",), needs=("gradients",))
STAGES.add("suggest", "out-of-fold probabilities, the suggested budget with its interval, a suggested label per "
           "sample", "core.pipeline.stages.suggest:run", files=(schema.OOF_PROBS, schema.SUGGESTIONS),
           reads=("suggest", "baselines.oof", "baselines.folds"), needs=("gradients",))
STAGES.add("baselines", "influence-function and label-quality scores, for comparison",
           "core.pipeline.stages.baselines:run", files=(schema.BASELINES,), reads=("baselines",),
           needs=("gradients", "suggest"))
STAGES.add("embedding", "2-D UMAP/PCA map of gradient space", "core.pipeline.stages.embedding:run",
           files=(schema.EMBEDDING,), reads=("embed",), needs=("gradients",))
STAGES.add("samples", "the flagging decision and samples.parquet, the table the dashboard reads",
           "core.pipeline.stages.samples:run", files=(schema.SAMPLES,), reads=("flag",),
           needs=("scores", "suggest", "baselines", "embedding"), decision=True)
STAGES.add("evaluate", "the analyzed model's test accuracy: the only stage that reads the test labels",
           "core.pipeline.stages.evaluate:run", files=(schema.TEST_LABELS,), reads=(), needs=("train",))
STAGES.add("retrain", "test accuracy with and without the flagged samples, over seeds",
           "core.pipeline.stages.retrain:run", files=(schema.RETRAIN,), reads=("retrain",),
           needs=("samples", "evaluate"), decision=True)
"""Each stage's meta: `files` it writes; `reads`, the config sections (or "section.field") it reads itself;
`needs`, the earlier stages whose files it reads; `optional`, files it writes only for some data or
settings. A stage's fingerprint hashes its reads and its needs'
fingerprints (core.pipeline.fingerprints), so a changed setting re-runs only the stages downstream of it.
`decision`: the stage only applies the flagging decision (or its retraining), so a change confined to
such stages re-runs on a finished run without --overwrite."""

RETRAIN_MODES = Registry("retrain mode")
RETRAIN_MODES.add("full", "a fresh model of the run's architecture trained on the kept samples (the paper)",
                  "core.pipeline.retrain:full_retrain", needs_model=True)
RETRAIN_MODES.add("probe", "only a new last layer, fit on the analyzed model's cached features (seconds)",
                  "core.pipeline.retrain:probe_retrain", needs_model=False)
