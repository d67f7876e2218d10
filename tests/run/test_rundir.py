
import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from core.errors import RunDirError
from core.run import schema
from core.run.io import AtomicNpyWriter, atomic_write, write_parquet
from core.pipeline.open_run import open_run
from core.run.rundir import RunDir


def test_atomic_write_keeps_previous_content_when_writer_fails(tmp_path):
    target = tmp_path / "table.bin"
    atomic_write(target, lambda f: f.write(b"complete"))

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["table.bin"]


def test_npy_writer_is_invisible_until_commit(tmp_path):
    target = tmp_path / "g.npy"
    writer = AtomicNpyWriter(target, (4, 3))
    writer.array[:] = 1.5
    assert not target.exists()
    writer.commit()
    assert np.load(target).sum() == 18.0
    second = AtomicNpyWriter(target, (2, 2))
    second.abort()
    assert np.load(target).shape == (4, 3)
    assert len(list(tmp_path.iterdir())) == 1


def test_refuses_a_non_run_directory_with_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a gradsift run"):
        open_run(RunDir(tmp_path), RunConfig())


def test_schema_version_mismatch_is_refused(tmp_path):
    run = RunDir(tmp_path)
    manifest, _ = open_run(run, RunConfig())
    manifest["schema_version"] = 999
    run.write_manifest(manifest)
    with pytest.raises(RunDirError, match="schema 999"):
        run.read_manifest()


def test_corrupted_manifest_and_truncated_parquet_are_named(tmp_path):
    run = RunDir(tmp_path)
    open_run(run, RunConfig())
    write_parquet(run.file(schema.SCORES), pd.DataFrame({"score_l2": np.arange(1000.0)}))
    data = run.file(schema.SCORES).read_bytes()
    run.file(schema.SCORES).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirError, match="scores.parquet is corrupted or truncated"):
        run.read_parquet(schema.SCORES)
    run.file(schema.MANIFEST).write_text("{not json")
    with pytest.raises(RunDirError, match="manifest.json is corrupted"):
        run.read_manifest()


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        RunDir(tmp_path / "nope").read_manifest()
