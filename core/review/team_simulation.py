"""A simulated review team on a run with known truth (measurement only; docs/team-consensus.md).

Annotators answer about each flagged sample with their accuracy (default 95%, 85%, 70%): the true class, else
another class drawn uniformly (a keep when it happens to be the given class). Their answers enter the same code
the store uses (core.run.votes outcomes, core.review.consensus.crowdlab on the run's oof_probs.npy).

- `consensus_accuracy`: with overlap = every annotator on every flagged sample, the accuracy against the truth
  of each single annotator, of majority vote (ties broken at random), of the shipped consensus (CROWDLAB's
  consensus label, what `core.review.consensus.accept_consensus` records for the lead), of the store's rule without
  CROWDLAB (the agreed vote, else a lead as good as the best annotator), and whether CROWDLAB's annotator quality
  ranks the annotators in their true order.
- `decisions_per_correction`: overlap 1 (each flagged sample decided by one annotator, in turn) against overlap 2
  with a gold set (`gold_share` of the flagged count, drawn from the unflagged samples, decided by every annotator):
  the decisions spent (votes, gold answers and the lead's adjudications of disagreements) per label corrected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.review.consensus import OUTCOME, crowdlab
from core.run import schema
from core.run.reviews import REVIEWER
from core.run.rundir import RunDir

ACCURACIES = (0.95, 0.85, 0.70)
LEAD_ACCURACY = 0.95
"""The lead who adjudicates a disagreement is simulated as good as the best annotator."""


def names(accuracies: Sequence[float]) -> list[str]:
    return [f"annotator_{round(100 * a)}" for a in accuracies]


def answers(truth: np.ndarray, accuracy: float, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(m,) int64: the true class with probability `accuracy`, else another class uniformly."""
    truth = np.asarray(truth, np.int64)
    wrong = rng.random(len(truth)) >= accuracy
    shift = rng.integers(1, n_classes, len(truth))
    return np.where(wrong, (truth + shift) % n_classes, truth)


def simulate_votes(sample_ids: np.ndarray, truth: np.ndarray, n_classes: int, accuracies: Sequence[float],
                   overlap: int, rng: np.random.Generator) -> pd.DataFrame:
    """Votes (sample_id, reviewer, outcome) of `overlap` annotators per sample: sample k goes to annotators
    k, k+1, ... (mod the team), so the work is shared evenly."""
    if not 1 <= overlap <= len(accuracies):
        raise ConfigError(f"overlap {overlap} needs 1 to {len(accuracies)} annotators")
    team = names(accuracies)
    frames = []
    for position in range(len(accuracies)):
        ids = np.asarray(sample_ids, np.int64)
        chosen = ((np.arange(len(ids)) - position) % len(accuracies)) < overlap
        ids = ids[chosen]
        frames.append(pd.DataFrame({schema.SAMPLE_ID: ids, REVIEWER: team[position],
                                    OUTCOME: answers(truth[ids], accuracies[position], n_classes, rng)}))
    return pd.concat(frames, ignore_index=True)


def majority_vote(votes: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Each sample's most frequent outcome, ties broken at random (sorted by sample_id)."""
    out = {}
    for sample_id, part in votes.groupby(schema.SAMPLE_ID, sort=True):
        values, counts = np.unique(part[OUTCOME].to_numpy(), return_counts=True)
        out[sample_id] = int(rng.choice(values[counts == counts.max()]))
    return pd.Series(out)


def _run_arrays(run_path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    run = RunDir(run_path)
    samples = run.read_samples([schema.GIVEN_LABEL, schema.TRUE_LABEL, schema.IS_FLAGGED])
    if samples[schema.TRUE_LABEL].isna().any():
        raise ConfigError(f"{run.path} has no true labels: a team can only be simulated with known truth")
    probs = run.read_npy(schema.OOF_PROBS)
    return (samples[schema.GIVEN_LABEL].to_numpy(np.int64), samples[schema.TRUE_LABEL].to_numpy(np.int64),
            np.flatnonzero(samples[schema.IS_FLAGGED].to_numpy(bool)), probs)


def consensus_accuracy(run_path, seed: int, accuracies: Sequence[float] = ACCURACIES) -> dict:
    """Accuracy against the truth on the flagged samples at full overlap: each annotator, majority vote, CROWDLAB;
    `quality_order_right`: CROWDLAB's annotator quality ranks the annotators as their accuracies do."""
    given, truth, flagged, probs = _run_arrays(run_path)
    rng = np.random.default_rng(seed)
    votes = simulate_votes(flagged, truth, probs.shape[1], accuracies, len(accuracies), rng)
    record: dict = {"n_flagged": int(len(flagged)), "n_wrong_flagged": int((given[flagged] != truth[flagged]).sum())}
    for name, part in votes.groupby(REVIEWER):
        record[name] = float((part[OUTCOME].to_numpy() == truth[part[schema.SAMPLE_ID].to_numpy()]).mean())
    majority = majority_vote(votes, rng)
    record["majority_vote"] = float((majority.to_numpy() == truth[majority.index.to_numpy()]).mean())
    lab = crowdlab(votes, probs)
    if lab is None:
        raise ConfigError("CROWDLAB could not run on the simulated votes")
    consensus = lab.labels["consensus_label"]
    record["crowdlab"] = float((consensus.to_numpy() == truth[consensus.index.to_numpy()]).mean())
    quality = lab.annotators["annotator_quality"]
    team = names(accuracies)
    true_order = [team[i] for i in np.argsort(-np.asarray(accuracies), kind="stable")]
    record["quality"] = {name: float(quality[name]) for name in team}
    record["quality_order_right"] = list(quality.sort_values(ascending=False).index) == true_order
    record["model_alone"] = float((probs[flagged].argmax(axis=1) == truth[flagged]).mean())
    final, adjudications = _agreed_else_lead(votes, truth, probs.shape[1], LEAD_ACCURACY, rng)
    record["agreed_else_lead"] = float((final.to_numpy() == truth[final.index.to_numpy()]).mean())
    record["lead_adjudications"] = adjudications
    return record


def _agreed_else_lead(votes: pd.DataFrame, truth: np.ndarray, n_classes: int, lead_accuracy: float,
                      rng: np.random.Generator) -> tuple[pd.Series, int]:
    """What the store decides without CROWDLAB: the agreed vote, else the lead's adjudication (simulated with
    `lead_accuracy`); and how many adjudications that took."""
    final, adjudications = {}, 0
    for sample_id, part in votes.groupby(schema.SAMPLE_ID, sort=True):
        values = part[OUTCOME].to_numpy()
        if (values == values[0]).all():
            final[sample_id] = int(values[0])
        else:
            adjudications += 1
            final[sample_id] = int(answers(truth[[sample_id]], lead_accuracy, n_classes, rng)[0])
    return pd.Series(final), adjudications


def _outcome_counts(given: np.ndarray, truth: np.ndarray, ids: np.ndarray, final: np.ndarray) -> tuple[int, int]:
    """(labels corrected, right labels broken) when `final` replaces the given labels of `ids`."""
    wrong = given[ids] != truth[ids]
    return int((wrong & (final == truth[ids])).sum()), int((~wrong & (final != truth[ids])).sum())


def decisions_per_correction(run_path, seed: int, accuracies: Sequence[float] = ACCURACIES, overlap: int = 2,
                             gold_share: float = 0.05, lead_accuracy: float = LEAD_ACCURACY) -> list[dict]:
    """Overlap 1 against `overlap` with a gold set: decisions, labels corrected, right labels broken, and decisions
    per corrected label, each for one setting (one dict each)."""
    given, truth, flagged, probs = _run_arrays(run_path)
    n_classes = probs.shape[1]
    rng = np.random.default_rng(seed)
    rows = []
    single = simulate_votes(flagged, truth, n_classes, accuracies, 1, rng).sort_values(schema.SAMPLE_ID)
    corrected, broken = _outcome_counts(given, truth, single[schema.SAMPLE_ID].to_numpy(),
                                        single[OUTCOME].to_numpy())
    rows.append({"setting": "overlap 1", "decisions": int(len(single)), "corrected": corrected, "broken": broken})
    unflagged = np.setdiff1d(np.arange(len(given)), flagged)
    n_gold = int(round(gold_share * len(flagged)))
    gold = rng.choice(unflagged, size=min(n_gold, len(unflagged)), replace=False)
    gold_votes = simulate_votes(gold, truth, n_classes, accuracies, len(accuracies), rng)
    votes = simulate_votes(flagged, truth, n_classes, accuracies, overlap, rng)
    final, adjudications = _agreed_else_lead(votes, truth, n_classes, lead_accuracy, rng)
    corrected, broken = _outcome_counts(given, truth, final.index.to_numpy(np.int64), final.to_numpy())
    gold_right = gold_votes[OUTCOME].to_numpy() == truth[gold_votes[schema.SAMPLE_ID].to_numpy()]
    rows.append({"setting": f"overlap {overlap} + {gold_share:.0%} gold",
                 "decisions": int(len(votes) + len(gold_votes) + adjudications), "corrected": corrected,
                 "broken": broken, "adjudications": adjudications, "gold_answers": int(len(gold_votes)),
                 "gold_accuracy": float(gold_right.mean()) if len(gold_right) else None})
    for row in rows:
        row["decisions_per_correction"] = row["decisions"] / row["corrected"] if row["corrected"] else float("nan")
        net = row["corrected"] - row["broken"]
        row["decisions_per_net_correction"] = row["decisions"] / net if net > 0 else float("nan")
    return rows
