
import os

import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from core.errors import RunDirError
from core.pipeline.open_run import open_run
from core.run import schema
from core.run.io import AtomicNpyWriter, atomic_directory, atomic_write, write_parquet
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


def test_exclusive_write_never_replaces_a_file(tmp_path):
    target = tmp_path / "export.csv"
    atomic_write(target, lambda f: f.write(b"first"), exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(target, lambda f: f.write(b"second"), exclusive=True)
    assert target.read_bytes() == b"first"
    atomic_write(target, lambda f: f.write(b"replaced"))  # the default mode replaces
    assert target.read_bytes() == b"replaced"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"], "no temporary file left"


def test_exclusive_write_loses_a_race_without_replacing_the_winner(tmp_path, monkeypatch):
    target = tmp_path / "export.csv"

    def racing_link(src, dst):  # another writer takes the name while ours is being written
        open(dst, "wb").write(b"theirs")
        raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(FileExistsError):
        atomic_write(target, lambda f: f.write(b"ours"), exclusive=True)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_exclusive_write_without_hard_links_claims_the_name_first(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # what a file system without hard links answers

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "export.csv"
    atomic_write(target, lambda f: f.write(b"first"), exclusive=True)
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        atomic_write(target, lambda f: f.write(b"second"), exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "tree") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert not list(tmp_path.iterdir())
    with atomic_directory(tmp_path / "tree") as tmp:
        (tmp / "done").write_text("y")
    assert [p.name for p in (tmp_path / "tree").iterdir()] == ["done"]
    (tmp_path / "empty").mkdir()  # a plain rename would replace an empty directory
    with pytest.raises(FileExistsError):
        with atomic_directory(tmp_path / "empty") as tmp:
            (tmp / "new").write_text("z")
    assert not list((tmp_path / "empty").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "tree"]


def test_every_writer_in_core_goes_through_the_one_atomic_writer():
    """Temporary files, fsync and renames into place live in core/run/io.py only (the run directory's
    set-aside of a replaced run moves whole entries and writes nothing)."""
    import re
    from pathlib import Path

    core = Path(__file__).resolve().parents[2] / "core"
    pattern = re.compile(r"os\.replace|os\.rename|\btmp\w*\.(replace|rename)\(|os\.fsync|mkstemp|O_EXCL|os\.link\(")
    allowed = {("run", "io.py"), ("run", "rundir.py")}
    offenders = [f"{path.relative_to(core)}:{number}" for path in core.rglob("*.py")
                 if path.relative_to(core).parts[-2:] not in allowed
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == [], offenders


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
