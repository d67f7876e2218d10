"""Opening a run directory under a new config: which stages re-run, what is set aside, what is kept."""

import pytest

from core.config import EmbedConfig, FlagConfig, RunConfig, TrainConfig
from core.errors import RunDirError
from core.pipeline.open_run import open_run
from core.run import schema
from core.run.rundir import RunDir


def finished(run: RunDir, config: RunConfig) -> None:
    """A run whose every stage is recorded complete under `config` (no files needed to decide what re-runs)."""
    manifest, _ = open_run(run, config)
    manifest["stages"] = {name: {"complete": True, "fingerprint": manifest["stage_fingerprints"][name]}
                          for name in manifest["stage_fingerprints"]}
    run.write_manifest(manifest)


def test_open_run_refuses_an_analysis_change_naming_the_fields_and_stages(tmp_path):
    run = RunDir(tmp_path / "run")
    finished(run, RunConfig())
    with pytest.raises(RunDirError, match=r"train.epochs: 40 -> 3.*would re-run the train, gradients, scores"):
        open_run(run, RunConfig(train=TrainConfig(epochs=3)))


def test_a_flagging_change_needs_no_overwrite_and_is_recorded(tmp_path):
    run = RunDir(tmp_path / "run")
    finished(run, RunConfig())
    manifest, notes = open_run(run, RunConfig(flag=FlagConfig(budget=0.1)))
    assert set(manifest["stages"]) == {"data", "train", "gradients", "scores", "suggest", "baselines", "embedding",
                                       "evaluate"}
    assert manifest["history"][-1]["changed"] == ["flag.budget: None -> 0.1"]
    assert manifest["history"][-1]["reran"] == ["samples", "retrain"]
    assert run.config().flag.budget == 0.1 and "samples, retrain" in notes[0]


def test_overwrite_sets_aside_only_the_rerun_stages_files_and_keeps_reviews(tmp_path):
    run = RunDir(tmp_path / "run")
    finished(run, RunConfig())
    for name in (schema.REVIEWS, schema.MODEL, schema.EMBEDDING, schema.RERANK):
        run.file(name).write_bytes(b"precious")
    open_run(run, RunConfig(embed=EmbedConfig(n_neighbors=5)), overwrite=True)
    backups = [p for p in run.path.iterdir() if p.name.startswith("replaced-")]
    assert len(backups) == 1
    assert sorted(p.name for p in backups[0].iterdir()) == sorted([schema.EMBEDDING, schema.RERANK])
    assert run.file(schema.REVIEWS).read_bytes() == b"precious" and run.file(schema.MODEL).exists()


def test_a_data_change_sets_the_reviews_aside_with_the_run(tmp_path):
    run = RunDir(tmp_path / "run")
    finished(run, RunConfig())
    run.file(schema.REVIEWS).write_bytes(b"precious")
    open_run(run, RunConfig(seed=5), overwrite=True)
    backups = [p for p in run.path.iterdir() if p.name.startswith("replaced-")]
    assert (backups[0] / schema.REVIEWS).read_bytes() == b"precious"
    assert run.config().seed == 5


def test_a_data_change_on_the_same_samples_keeps_the_reviews(tmp_path):
    run = RunDir(tmp_path / "run")
    manifest, _ = open_run(run, RunConfig(), samples_key="same")
    manifest["stages"] = {name: {"complete": True, "fingerprint": manifest["stage_fingerprints"][name]}
                          for name in manifest["stage_fingerprints"]}
    run.write_manifest(manifest)
    run.file(schema.REVIEWS).write_bytes(b"precious")
    _, notes = open_run(run, RunConfig(seed=5), overwrite=True, samples_key="same")
    assert run.file(schema.REVIEWS).read_bytes() == b"precious"
    assert not any("reviews were set aside" in note for note in notes)
