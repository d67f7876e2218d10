"""`gradsift conflicts` on multi-label and regression runs (hand-built from the digits run: tests/kind_runs.py):
planted exact near-duplicates with another tag set or values further apart than the tolerance are found, ones with
the same tag set or values within the tolerance are not, and the stored labels read back as the run's labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.review.conflicts import find_conflicts, read_conflicts, stored_labels
from core.review.duplicates import pair_truth
from core.run import schema
from core.run.label_forms import form_of_run
from core.run.rundir import RunDir
from tests.kind_runs import multilabel_run, regression_run

PLANTED_CONFLICT, PLANTED_AGREEMENT = (0, 1), (2, 3)
"""Row b of each pair gets row a's features (distance 0: each other's nearest neighbour)."""


def plant(run: RunDir, column: str, labels: dict) -> RunDir:
    """Make the planted pairs exact near-duplicates and give their rows `labels` in `column`."""
    features = np.load(run.file(schema.FEATURES))
    for a, b in (PLANTED_CONFLICT, PLANTED_AGREEMENT):
        features[b] = features[a]
    np.save(run.file(schema.FEATURES), features)
    samples = pd.read_parquet(run.file(schema.SAMPLES))
    for row, label in labels.items():
        samples.at[row, column] = label
    samples.to_parquet(run.file(schema.SAMPLES))
    return run


def pair_set(pairs: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(pairs.sample_a.tolist(), pairs.sample_b.tolist()))


@pytest.fixture
def tag_run(digits_run, tmp_path) -> RunDir:
    return plant(multilabel_run(digits_run, tmp_path / "tags"), schema.GIVEN_TAGS,
                 {0: [1, 4], 1: [1], 2: [3, 5], 3: [5, 3]})


@pytest.fixture
def value_run(digits_run, tmp_path) -> RunDir:
    # the hand-built run's tolerance: 0.1 × scale 2.0 = 0.2
    return plant(regression_run(digits_run, tmp_path / "values"), schema.GIVEN_VALUE,
                 {0: 3.0, 1: 3.5, 2: 3.0, 3: 3.15})


@pytest.mark.parametrize("fixture", ["tag_run", "value_run"])
def test_planted_pairs_are_found_and_agreeing_ones_are_not(fixture, request):
    run = request.getfixturevalue(fixture)
    pairs, facts = find_conflicts(run.path)
    assert PLANTED_CONFLICT in pair_set(pairs) and PLANTED_AGREEMENT not in pair_set(pairs)
    form = form_of_run(run.path)
    given = form.given_labels(run.path)
    stored, stored_facts = read_conflicts(run.path)
    given_a, given_b = stored_labels(stored, form)
    assert given_a == [given[a] for a in stored.sample_a] and given_b == [given[b] for b in stored.sample_b]
    assert form.differ(given_a, given_b).all(), "every stored pair conflicts by the run's label form"
    assert stored_facts["task"] == form.name == facts["task"]
    assert stored_facts.get("tolerance") == (0.2 if form.name == "regression" else None)
    measured = pair_truth(stored, run.read_samples([schema.IS_NOISY])[schema.IS_NOISY].to_numpy(bool))
    assert measured["n_pairs"] == len(stored) and 0 <= measured["with_noisy"] <= 1


def test_a_value_pair_just_beyond_the_tolerance_conflicts(value_run):
    samples = pd.read_parquet(value_run.file(schema.SAMPLES))
    samples.at[3, schema.GIVEN_VALUE] = 3.25  # 0.25 from row 2's 3.0: past the tolerance 0.2
    samples.to_parquet(value_run.file(schema.SAMPLES))
    assert PLANTED_AGREEMENT in pair_set(find_conflicts(value_run.path)[0])


def test_the_cli_prints_tag_names_and_values(tag_run, value_run):
    runner = CliRunner()
    names = RunDir(tag_run.path).read_manifest()["dataset"]["class_names"]
    result = runner.invoke(app, ["conflicts", str(tag_run.path), "--top", "1000"])
    assert result.exit_code == 0, result.output
    assert f"{names[1]}, {names[4]}" in result.output
    result = runner.invoke(app, ["conflicts", str(value_run.path), "--top", "1000"])
    assert result.exit_code == 0, result.output
    assert "3.5" in result.output
