"""`gradsift export` / `gradsift import-reviews` from the command line, and exports never overwriting."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.errors import ConfigError
from core.export.files import new_directory, write_new
from core.run.reviews import ReviewStore

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("fmt, name, written", [
    ("label-studio", "tasks.json", ["tasks.json", "tasks.label_config.xml"]),
    ("cleanlab", "issues.csv", ["issues.csv"]),
    ("fiftyone", "tree", ["tree"]),
    ("manifest", "cleaned.csv", ["cleaned.csv", "cleaned_images"]),
    ("review-log", "log.csv", ["log.csv"]),
])
def test_every_format_from_the_cli_and_never_over_an_existing_path(digits_run, tmp_path, fmt, name, written):
    out = tmp_path / name
    result = invoke("export", digits_run.path, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    again = invoke("export", digits_run.path, "--format", fmt, "--out", out)
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before, "nothing was touched"


def test_a_taken_sidecar_name_refuses_the_whole_export(digits_run, tmp_path):
    (tmp_path / "tasks.label_config.xml").write_text("mine")
    result = invoke("export", digits_run.path, "--format", "label-studio", "--out", tmp_path / "tasks.json")
    assert result.exit_code == 2 and "tasks.label_config.xml already exists" in result.output
    assert not (tmp_path / "tasks.json").exists() and (tmp_path / "tasks.label_config.xml").read_text() == "mine"


def test_round_trip_through_the_cli(digits_copy, tmp_path):
    tasks_path = tmp_path / "tasks.json"
    assert invoke("export", digits_copy.path, "--format", "label-studio", "--out", tasks_path).exit_code == 0
    tasks = json.loads(tasks_path.read_text())
    for task in tasks[:4]:
        choice = task["predictions"][0]["result"][0]["value"]["choices"]
        task["annotations"] = [{"id": 1, "was_cancelled": False, "created_at": "2026-01-01T00:00:00Z",
                                "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                            "value": {"choices": choice}}]}]
    exported = tmp_path / "ls-export.json"
    exported.write_text(json.dumps(tasks))
    result = invoke("import-reviews", digits_copy.path, exported, "--reviewer", "Ann")
    assert result.exit_code == 0, result.output
    assert "imported 4 decisions by Ann" in result.output and f"{len(tasks) - 4} without a decision" in result.output
    assert ReviewStore(digits_copy.path).count() == 4
    manifest = tmp_path / "after.csv"
    assert invoke("export", digits_copy.path, "--format", "manifest", "--out", manifest).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--format", "excel", "--out", "x.xlsx"], "valid formats"),
    (["--format", "cleanlab", "--out", "x.csv", "--only", "some"], "--only must be one of"),
    (["--format", "cleanlab", "--out", "x.csv", "--split", "val"], "--split must be one of"),
])
def test_bad_export_options_are_one_line(digits_run, tmp_path, args, message):
    result = invoke("export", digits_run.path, *[tmp_path / a if a.startswith("x.") else a for a in args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_import_errors_are_one_line(digits_copy, tmp_path):
    bad = tmp_path / "fixes.csv"
    bad.write_text("sample_id,label\n123456,3\n")
    result = invoke("import-reviews", digits_copy.path, bad, "--reviewer", "Ann")
    assert result.exit_code == 2 and "unknown sample id 123456" in result.output and str(bad) in result.output
    missing = invoke("export", tmp_path / "no-run", "--format", "cleanlab", "--out", tmp_path / "x.csv")
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_write_new_is_atomic_and_exclusive(tmp_path, monkeypatch):
    path = write_new(tmp_path / "a.txt", b"one")
    with pytest.raises(ConfigError, match="already exists"):
        write_new(path, b"two")
    assert path.read_bytes() == b"one"

    def racing_link(src, dst):  # another writer takes the name while ours is being written
        open(dst, "wb").write(b"theirs")
        raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(ConfigError, match="already exists"):
        write_new(tmp_path / "b.txt", b"ours")
    assert (tmp_path / "b.txt").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"], "no temporary file left"


def test_new_directory_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with new_directory(tmp_path / "tree") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert not list(tmp_path.iterdir())


def test_the_export_registry_and_commands_import_light():
    import subprocess
    import sys

    probe = ("import sys, core.export.registry, core.cli.export; "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not loaded & {"torch", "numpy", "pandas", "sklearn", "PIL"}
