"""Consensus of a team's votes: CROWDLAB consensus and annotator quality, agreement, the lead's adjudication queue.

The store (core.run.reviews, core.run.votes) decides each sample: adjudication, gold label, or the decision its
votes agree on; samples whose votes disagree stay open. This module adds what needs the model:

- `crowdlab`: cleanlab's `get_label_quality_multiannotator` (CROWDLAB) on the votes and the run's out-of-fold
  probabilities (oof_probs.npy; the analyzed model's test probabilities for the test split): a consensus label
  and its quality per sample, and each annotator's estimated quality. A `mislabeled` ("remove") vote names no
  class, so it enters CROWDLAB as a missing label: it supports no class and CROWDLAB neither credits nor blames
  its annotator for it; it still counts as its own outcome ("remove") for agreement, disagreement and Krippendorff's
  alpha, and a sample whose votes are all "remove" has the consensus remove without CROWDLAB.
- `agreement`: Krippendorff's alpha (nominal; the `krippendorff` package) over the samples with two votes or more,
  each vote's outcome a category (every class, remove).
- `adjudication_queue`: open disagreements, then agreeing samples whose CROWDLAB consensus quality is below
  `LOW_QUALITY` (counted apart: their agreed decision stands until the lead decides), each with every vote, the
  model's suggestion and CROWDLAB's consensus side by side.
- `accept_consensus`: the lead accepts CROWDLAB's consensus label as its adjudication of the open disagreements
  (those with quality at least LOW_QUALITY), in one action per outcome.
- `team_summary`: what `gradsift reviews --json` prints.

Multi-label and regression runs (the store's `form`, core.run.label_forms) have their own consensus and agreement
in core.review.consensus_kinds (per-tag majority; the median of the values within a tolerance; Krippendorff's alpha
nominal per tag / interval); every function here dispatches on the store's form, with the same columns.

Blind review: `votes_visible_to(store, reviewer)` is what an annotator may see before deciding (only its own votes);
a lead sees every vote (`lead=True`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.review.consensus_kinds import KindConsensus, agrees, kind_agreement, label_consensus, plain, suggestion
from core.run import schema
from core.run.label_forms import ClassForm, LabelForm
from core.run.reviews import ACTION, NEW_LABEL, REVIEWER, ReviewStore
from core.run.votes import REMOVE, Resolution, outcomes

LOW_QUALITY = 0.5
"""CROWDLAB consensus quality below which an agreeing sample with two votes or more goes to the lead too."""
AGREEMENT_METRIC = "krippendorff_alpha_nominal"
OUTCOME = "outcome"


@dataclass
class Crowdlab:
    """CROWDLAB's results on the samples with at least one class vote."""

    labels: pd.DataFrame
    """Indexed by sample_id: consensus_label (class), consensus_quality_score, annotator_agreement,
    num_annotations."""
    annotators: pd.DataFrame
    """Indexed by annotator name: annotator_quality, agreement_with_consensus, num_examples_labeled."""


def vote_matrix(votes: pd.DataFrame, *, classes_only: bool = False) -> pd.DataFrame:
    """(samples × annotators) float frame of each vote's outcome (a class, or REMOVE), NaN where an annotator did
    not vote; `classes_only` turns REMOVE into NaN (CROWDLAB's input)."""
    if not len(votes):
        return pd.DataFrame(dtype=float)
    frame = votes.pivot(index=schema.SAMPLE_ID, columns=REVIEWER, values=OUTCOME).astype(float)
    if classes_only:
        frame = frame.where(frame >= 0)
    return frame


def crowdlab(votes: pd.DataFrame, probs: np.ndarray) -> Crowdlab | None:
    """CROWDLAB on `votes` (Resolution.votes) with `probs` (n, C) the model's probabilities (row = sample id); None
    when fewer than two annotators voted for a class (CROWDLAB needs several)."""
    from cleanlab.multiannotator import get_label_quality_multiannotator

    matrix = vote_matrix(votes, classes_only=True)
    if matrix.empty:
        return None
    matrix = matrix.dropna(how="all").dropna(axis=1, how="all")
    if matrix.shape[1] < 2 or len(matrix) < 2:
        return None
    pred_probs = np.asarray(probs, np.float64)[matrix.index.to_numpy(np.int64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = get_label_quality_multiannotator(matrix.reset_index(drop=True), pred_probs, verbose=False,
                                                      return_detailed_quality=False)
        except ValueError:
            return None
    labels = result["label_quality"].set_index(matrix.index)
    return Crowdlab(labels=labels, annotators=result["annotator_stats"])


def _by_class(form: LabelForm | None) -> bool:
    return form is None or isinstance(form, ClassForm)


def team_consensus(votes: pd.DataFrame, probs: np.ndarray | None, form: LabelForm | None = None
                   ) -> Crowdlab | KindConsensus | None:
    """CROWDLAB for classes; the per-tag majority or the values' median for the other kinds (core.review
    .consensus_kinds). None without the model's probabilities for classes, or without votes to combine."""
    if _by_class(form):
        return crowdlab(votes, probs) if probs is not None else None
    return label_consensus(votes, form, probs)


def agreement(votes: pd.DataFrame, form: LabelForm | None = None) -> dict:
    """Krippendorff's alpha (nominal) over the samples with ≥ 2 votes: {"metric", "value", "n_samples"}; value None
    when there is nothing to compare (fewer than two such samples, or a single outcome everywhere). Tags and
    values: core.review.consensus_kinds.kind_agreement."""
    import krippendorff

    if not _by_class(form):
        return kind_agreement(votes, form)
    matrix = vote_matrix(votes)
    matrix = matrix[matrix.notna().sum(axis=1) >= 2] if not matrix.empty else matrix
    value = None
    if len(matrix) >= 2 and len(np.unique(matrix.to_numpy()[~np.isnan(matrix.to_numpy())])) >= 2:
        value = float(krippendorff.alpha(reliability_data=matrix.to_numpy().T, level_of_measurement="nominal"))
    return {"metric": AGREEMENT_METRIC, "value": value, "n_samples": int(len(matrix))}


def model_probs(store: ReviewStore) -> np.ndarray | None:
    """The model's probabilities for the store's split: oof_probs.npy (training), erm_outputs' test_probs (test)."""
    run = store.path.parent
    if store.split == "train":
        path = run / schema.OOF_PROBS
        return np.load(path) if path.exists() else None
    path = run / schema.ERM_OUTPUTS
    return np.load(path)["test_probs"] if path.exists() else None


def _consensus_outcome(resolution: Resolution, lab: Crowdlab | KindConsensus | None, given,
                       form: LabelForm | None = None) -> pd.Series:
    """Each voted sample's consensus outcome: its decision where it has one, else CROWDLAB's label (open ones)."""
    decided = pd.Series(outcomes(resolution.decisions, given, form), index=resolution.decisions[schema.SAMPLE_ID])
    out = decided.copy()
    if lab is not None:
        extra = lab.labels["consensus_label"]
        extra = extra.astype(np.int64) if _by_class(form) else extra
        out = pd.concat([out, extra[~extra.index.isin(out.index)]])
    return out


def low_quality(resolution: Resolution, lab: Crowdlab | KindConsensus | None) -> np.ndarray:
    """(q,) int64 agreeing samples with ≥ 2 votes, not settled by a lead, whose CROWDLAB quality < LOW_QUALITY."""
    if lab is None:
        return np.zeros(0, np.int64)
    counts = resolution.votes.groupby(schema.SAMPLE_ID).size()
    several = set(counts.index[counts.to_numpy() >= 2].tolist())
    settled = set(resolution.adjudicated.tolist()) | set(resolution.gold.tolist()) | set(
        resolution.open_disagreements.tolist())
    quality = lab.labels["consensus_quality_score"]
    low = quality.index[(quality.to_numpy() < LOW_QUALITY)]
    return np.array(sorted(i for i in low.tolist() if i in several and i not in settled), np.int64)


def adjudication_queue(store: ReviewStore, probs: np.ndarray | None = None) -> pd.DataFrame:
    """The lead's queue: open disagreements (reason "disagreement"), then low-quality consensus ("low_quality"),
    lowest CROWDLAB quality first. Columns sample_id, reason, votes (list of {reviewer, action, new_label}),
    suggested_label and suggested_prob (the model's), consensus_label and consensus_quality (CROWDLAB; NA without).
    Tags and values: labels are tag-index lists and floats, the consensus is core.review.consensus_kinds'."""
    resolution = store.resolution()
    form = store.form
    probs = model_probs(store) if probs is None else probs
    lab = team_consensus(resolution.votes, probs, form)
    rows = []
    for reason, ids in (("disagreement", resolution.open_disagreements), ("low_quality", low_quality(resolution, lab))):
        for sample_id in ids.tolist():
            part = resolution.votes[resolution.votes[schema.SAMPLE_ID] == sample_id]
            votes = [{"reviewer": r, "action": a, "new_label": plain(n)}
                     for r, a, n in zip(part[REVIEWER], part[ACTION], part[NEW_LABEL])]
            known = lab is not None and sample_id in lab.labels.index
            if _by_class(form):
                suggested = (None, None) if probs is None else (int(np.argmax(probs[sample_id])),
                                                                float(np.max(probs[sample_id])))
            else:
                suggested = suggestion(form, probs, sample_id)
            rows.append({schema.SAMPLE_ID: sample_id, "reason": reason, "votes": votes,
                         "suggested_label": suggested[0], "suggested_prob": suggested[1],
                         "consensus_label": plain(lab.labels.loc[sample_id, "consensus_label"]) if known else None,
                         "consensus_quality": float(lab.labels.loc[sample_id, "consensus_quality_score"])
                         if known else None})
    frame = pd.DataFrame(rows, columns=[schema.SAMPLE_ID, "reason", "votes", "suggested_label", "suggested_prob",
                                        "consensus_label", "consensus_quality"])
    if len(frame):
        frame["_order"] = frame["reason"].map({"disagreement": 0, "low_quality": 1})
        frame = frame.sort_values(["_order", "consensus_quality"], na_position="last", kind="stable")
        frame = frame.drop(columns="_order").reset_index(drop=True)
    return frame


def accept_consensus(store: ReviewStore, lead: str, sample_ids=None, probs: np.ndarray | None = None,
                     min_quality: float = LOW_QUALITY) -> int:
    """The lead accepts CROWDLAB's consensus label as its adjudication of the queue's samples (`sample_ids`, default
    every open disagreement) whose consensus quality is at least `min_quality`: keep where the consensus is the given
    label, else relabel to it; recorded as the lead's adjudications (final, undoable). Returns how many."""
    resolution = store.resolution()
    form = store.form
    probs = model_probs(store) if probs is None else probs
    lab = team_consensus(resolution.votes, probs, form)
    if lab is None:
        return 0
    wanted = resolution.open_disagreements if sample_ids is None else np.asarray(list(sample_ids), np.int64)
    labels = lab.labels[lab.labels.index.isin(wanted.tolist())]
    labels = labels[labels["consensus_quality_score"] >= min_quality]
    given = store.given_labels()
    keeps, relabels = [], {}
    consensus = labels["consensus_label"]
    for sample_id, label in (consensus.astype(np.int64) if _by_class(form) else consensus).items():
        if given is not None and form.same(_given_of(given, sample_id), label):
            keeps.append(int(sample_id))
        else:
            relabels.setdefault(int(label) if _by_class(form) else label, []).append(int(sample_id))
    written = store.adjudicate(keeps, "keep", lead) if keeps else 0
    for label, ids in sorted(relabels.items()):
        written += store.adjudicate(ids, "relabel", lead, new_label=label)
    return written


def _given_of(given, sample_id: int):
    label = given[sample_id]
    if isinstance(label, (float, np.floating)):
        return float(label)
    return tuple(label) if isinstance(label, (tuple, list)) else int(label)


def votes_visible_to(store: ReviewStore, reviewer: str, sample_ids=None, *, lead: bool = False) -> pd.DataFrame:
    """The current votes `reviewer` may see (blind review: an annotator sees only its own; a lead sees all), on
    `sample_ids` (all when None). Columns: the history's, plus `outcome`."""
    votes = store.resolution().votes
    if not lead:
        votes = votes[votes[REVIEWER] == reviewer.strip()]
    if sample_ids is not None:
        votes = votes[votes[schema.SAMPLE_ID].isin([int(i) for i in sample_ids])]
    return votes.reset_index(drop=True)


def consensus_counts(store: ReviewStore) -> dict:
    """The store's consensus counts without the model (`gradsift info --json`'s `consensus` block): samples_decided,
    disagreements_open, adjudicated, gold, annotators, votes, overlap."""
    resolution = store.resolution()
    return {"samples_decided": int(len(resolution.decisions)),
            "disagreements_open": int(len(resolution.open_disagreements)),
            "adjudicated": int(len(resolution.adjudicated)), "gold": int(len(resolution.gold)),
            "annotators": int(resolution.votes[REVIEWER].nunique()), "votes": int(len(resolution.votes)),
            "overlap": store.overlap()}


def team_summary(store: ReviewStore, probs: np.ndarray | None = None,
                 role_of: Callable[[str], str | None] | None = None) -> dict:
    """`gradsift reviews --json`: per annotator (name, role, decided, agreement_with_consensus, gold_accuracy,
    quality), the agreement figure, and the consensus counts. `gold_accuracy` is the share of its answers on gold
    samples that lead to the gold label (the same class or tag set; a value within the form's tolerance). `role_of`
    maps a name to its role once users exist (core.auth); without it every role is None."""
    resolution = store.resolution()
    form = store.form
    probs = model_probs(store) if probs is None else probs
    lab = team_consensus(resolution.votes, probs, form)
    given = store.given_labels()
    consensus = _consensus_outcome(resolution, lab, given, form)
    votes = resolution.votes
    counts = votes.groupby(schema.SAMPLE_ID).size()
    comparable = set(counts.index[counts.to_numpy() >= 2].tolist()) | set(resolution.adjudicated.tolist())
    gold = store.gold()
    annotators = []
    for name, part in votes.groupby(REVIEWER, sort=True):
        ids = part[schema.SAMPLE_ID].to_numpy(np.int64)
        mask = np.array([i in comparable and i in consensus.index for i in ids], bool)
        agree = (np.array([agrees(form, a, b) for a, b in zip(part[OUTCOME].to_numpy()[mask],
                                                              consensus.loc[ids[mask]].to_numpy())], bool)
                 if mask.any() else None)
        on_gold = np.array([i in gold for i in ids], bool)
        right = np.array([agrees(form, answer, gold[i]) for answer, i in zip(part[OUTCOME].to_numpy()[on_gold],
                                                                              ids[on_gold])], bool)
        quality = (float(lab.annotators.loc[name, "annotator_quality"])
                   if lab is not None and name in lab.annotators.index else None)
        annotators.append({"name": name, "role": role_of(name) if role_of else None, "decided": int(len(part)),
                           "agreement_with_consensus": None if agree is None else float(agree.mean()),
                           "gold_accuracy": float(right.mean()) if on_gold.any() else None,
                           "n_gold": int(on_gold.sum()), "quality": quality})
    low = low_quality(resolution, lab)
    counts = {"samples_decided": int(len(resolution.decisions)),
              "disagreements_open": int(len(resolution.open_disagreements)),
              "adjudicated": int(len(resolution.adjudicated)), "low_quality_open": int(len(low)),
              "gold": int(len(resolution.gold)), "votes": int(len(votes)),
              "remove_votes": int((votes[OUTCOME] == REMOVE).sum()) if len(votes) else 0,
              "overlap": store.overlap(),
              "quality_method": None if lab is None else "crowdlab" if _by_class(form) else form.name}
    return {"annotators": annotators, "agreement": agreement(votes, form), "consensus": counts}
