"""Figure 3's data-selection protocol, smoke-tested on tiny GLUE-shaped TSV files written here."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.data.glue import (
    PAIR_SEPARATOR,
    glue_files,
    read_glue_tsv,
    write_glue_manifest,
)
from core.errors import DataError
from core.protocols.data_selection import METHODS


def _write_sst2(folder, n_train: int = 70, n_dev: int = 24) -> None:
    from core.data.intents import generate_intents

    texts, labels, _ = generate_intents(8 * (n_train + n_dev), seed=11)
    rows = [(t, int(y == 1)) for t, y in zip(texts, labels) if y in (1, 3)][:n_train + n_dev]
    folder.mkdir(parents=True)
    for name, part in (("train.tsv", rows[:n_train]), ("dev.tsv", rows[n_train:])):
        lines = ["sentence\tlabel"] + [f"{text}\t{label}" for text, label in part]
        (folder / name).write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue_data")
    _write_sst2(root / "SST-2")
    return root


@pytest.mark.slow
def test_data_selection_end_to_end_on_tiny_sst2_files(glue_dir, tmp_path):
    out = tmp_path / "fig3"
    result = CliRunner().invoke(app, ["reproduce", "data-selection", "--data-dir", str(glue_dir), "--task", "sst2",
                                      "--seeds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "sst2_rows.csv")
    assert sorted(set(rows.method)) == sorted({*METHODS, "all"}) and len(rows) == 2 * (len(METHODS) + 1)
    assert rows.test_accuracy.between(0, 1).all() and (rows.n_train == 70).all()
    assert (rows.n_flipped == 14).all()  # 20% of 70 training labels flipped
    kept = rows[rows.method != "all"]
    assert (kept.n_kept == 49).all()  # 70% kept by every method
    summary = pd.read_csv(out / "sst2.csv")
    assert (summary.seeds == 2).all() and summary.accuracy_low.notna().all()
    assert (summary.accuracy_low <= summary.accuracy_mean).all() and (
        summary.accuracy_mean <= summary.accuracy_high
    ).all()
    # The gradient detectors remove more flipped labels than a random 30% does (on both seeds together).
    share = summary.set_index("method").flipped_removed_share
    assert share["l2"] > share["random"]
    facts = json.loads((out / "sst2_facts.json").read_text())
    assert facts["seeds"][0]["train_file"].endswith("SST-2/train.tsv") and facts["seeds"][0]["encoder"]
    assert (out / "sst2.png").stat().st_size > 0
    assert "change vs all" in result.output


def test_missing_glue_files_say_which_files_and_where_to_get_them(tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "data-selection", "--data-dir", str(tmp_path), "--task", "qnli",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "QNLI/train.tsv" in result.output and "dev.tsv" in result.output and "gluebenchmark.com" in result.output
    with pytest.raises(DataError, match="not a GLUE task"):
        glue_files(tmp_path, "cola")


def test_pair_tasks_join_their_sentences_and_skip_broken_rows(tmp_path):
    folder = tmp_path / "QQP"
    folder.mkdir()
    header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
    body = ["0\t1\t2\tHow do I cook rice?\tWhat is the way to cook rice?\t1",
            "1\t3\t4\tbroken row with too few fields",
            "2\t5\t6\tIs the sky blue?\tWhy do cats purr?\t0",
            "3\t7\t8\t\tAn empty first question\t0"]
    for name in ("train.tsv", "dev.tsv"):
        (folder / name).write_text("\n".join([header, *body]) + "\n")
    texts, labels, skipped = read_glue_tsv(folder / "train.tsv", "qqp")
    assert texts == [f"How do I cook rice?{PAIR_SEPARATOR}What is the way to cook rice?",
                     f"Is the sky blue?{PAIR_SEPARATOR}Why do cats purr?"]
    assert labels == ["1", "0"] and skipped == 2
    facts = write_glue_manifest(tmp_path, "qqp", tmp_path / "qqp.csv", max_train=1, seed=0)
    manifest = pd.read_csv(tmp_path / "qqp.csv")
    assert list(manifest.split) == ["train", "test", "test"] and facts["skipped_rows"] == 4
    (folder / "dev.tsv").write_text("question1\tquestion2\n")
    with pytest.raises(DataError, match="no column\\(s\\) 'is_duplicate'"):
        read_glue_tsv(folder / "dev.tsv", "qqp")


@pytest.mark.slow
def test_any_text_manifest_runs_through_the_protocol(text_manifest, tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "data-selection", "--manifest", str(text_manifest), "--task",
                                      "requests", "--seeds", "1", "--method", "l2", "--method", "random",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "out" / "requests_rows.csv")
    assert list(rows.method) == ["all", "l2", "random"]
