"""Consensus and agreement of a team's votes on multi-label and regression runs (core.review.consensus dispatches here).

CROWDLAB scores one class per sample; these kinds need their own (docs/team-consensus.md, "Tags and values"):

- multilabel: each tag is a vote on its presence. A tag is in the consensus set when more than half of the tag-set
  votes hold it; a tie goes to the model (its sigmoid for the tag ≥ 0.5, absent without the model). A sample's
  consensus quality is the mean over the tags of the share of votes that agree with the consensus on that tag
  (1 = unanimous on every tag); an annotator's quality is the share of its (sample, tag) decisions that agree with
  the consensus, over the samples with two votes or more.
- regression: the consensus value is the median of the value votes; a vote agrees with it when within the form's
  tolerance (core.run.label_forms: TOLERANCE_FRACTION × the target's robust scale); a sample's quality is the
  share of its votes within the tolerance, an annotator's the share of its votes within the tolerance of the
  consensus over the samples with two votes or more.

A "mislabeled, remove" vote names no label: it takes no part in the consensus label (as in CROWDLAB) but counts as
its own outcome for agreement and disagreement.

Krippendorff's alpha (the `krippendorff` package): multilabel, nominal over the (sample, tag) units (each vote's
presence of a tag, 0 or 1) with the per-tag alphas beside it; regression, interval over the vote values. Both over
the samples with two votes or more, as for classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.run import schema
from core.run.label_forms import LabelForm, TagForm, ValueForm
from core.run.reviews import REVIEWER

OUTCOME = "outcome"
LABEL_COLUMNS = ("consensus_label", "consensus_quality_score", "annotator_agreement", "num_annotations")
ANNOTATOR_COLUMNS = ("annotator_quality", "agreement_with_consensus", "num_examples_labeled")


@dataclass
class KindConsensus:
    """The same shape as core.review.consensus.Crowdlab, for tags and values."""

    labels: pd.DataFrame
    """Indexed by sample_id: LABEL_COLUMNS (consensus_label: a tag tuple or a float)."""
    annotators: pd.DataFrame
    """Indexed by annotator name: ANNOTATOR_COLUMNS."""


def _label_votes(votes: pd.DataFrame, form: LabelForm) -> pd.DataFrame:
    """The votes that name a label of the form (tag tuples or float values; removes and unknown keeps left out)."""
    kind = tuple if isinstance(form, TagForm) else float
    if not len(votes):
        return votes
    return votes[[isinstance(o, kind) for o in votes[OUTCOME]]]


def tag_set_consensus(sets: list[tuple[int, ...]], n_tags: int, tag_probs: np.ndarray | None = None
                      ) -> tuple[tuple[int, ...], float]:
    """The per-tag majority of tag-set votes (ties to the model's tag_probs ≥ 0.5, else absent) and its quality:
    the mean over the tags of the share of votes agreeing with the consensus on the tag."""
    present = np.zeros(n_tags, np.float64)
    for tags in sets:
        present[list(tags)] += 1
    share = present / len(sets)
    tie = np.isclose(share, 0.5)
    model = np.zeros(n_tags, bool) if tag_probs is None else np.asarray(tag_probs, np.float64) >= 0.5
    chosen = np.where(tie, model, share > 0.5)
    agreeing = np.where(chosen, share, 1 - share)
    return tuple(np.flatnonzero(chosen).tolist()), float(agreeing.mean())


def _n_tags(form: TagForm, sets, probs) -> int:
    if form.n_tags is not None:
        return form.n_tags
    if probs is not None:
        return int(np.asarray(probs).shape[1])
    return 1 + max((max(tags) for tags in sets if tags), default=-1)


def label_consensus(votes: pd.DataFrame, form: LabelForm, probs: np.ndarray | None = None) -> KindConsensus | None:
    """Consensus per sample with at least one label vote, and annotator quality (KindConsensus); None when no vote
    names a label. `probs` (n, C) are the model's tag sigmoids (tie-breaks; unused for values)."""
    named = _label_votes(votes, form)
    if not len(named):
        return None
    rows, per_vote = {}, []
    for sample_id, part in named.groupby(schema.SAMPLE_ID, sort=True):
        labels = list(part[OUTCOME])
        if isinstance(form, TagForm):
            n_tags = _n_tags(form, labels, probs)
            tag_probs = None if probs is None else np.asarray(probs)[int(sample_id)]
            label, quality = tag_set_consensus(labels, n_tags, tag_probs)
            hits = [float(np.mean(np.isin(np.arange(n_tags), tags) == np.isin(np.arange(n_tags), label)))
                    for tags in labels]
        else:
            label = float(np.median(labels))
            hits = [float(abs(value - label) <= form.tolerance) for value in labels]
            quality = float(np.mean(hits))
        exact = float(np.mean([_same(form, vote, label) for vote in labels]))
        rows[int(sample_id)] = (label, quality, exact, len(labels))
        if len(labels) >= 2:
            per_vote += [(name, hit, _same(form, vote, label))
                         for name, hit, vote in zip(part[REVIEWER], hits, labels)]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(LABEL_COLUMNS))
    frame.index.name = schema.SAMPLE_ID
    frame["consensus_label"] = pd.Series({k: v[0] for k, v in rows.items()}, dtype=object)
    counts = named.groupby(REVIEWER).size()
    annotators = pd.DataFrame(index=counts.index, columns=list(ANNOTATOR_COLUMNS), dtype=float)
    annotators["num_examples_labeled"] = counts.astype(float)
    if per_vote:
        scored = pd.DataFrame(per_vote, columns=[REVIEWER, "hit", "same"]).groupby(REVIEWER)
        annotators["annotator_quality"] = scored["hit"].mean()
        annotators["agreement_with_consensus"] = scored["same"].mean().astype(float)
    return KindConsensus(labels=frame, annotators=annotators)


def _same(form: LabelForm, a, b) -> bool:
    if isinstance(form, ValueForm):
        return bool(abs(a - b) <= form.tolerance)
    return a == b


def agrees(form: LabelForm, a, b) -> bool:
    """Whether an outcome agrees with a consensus outcome: within the tolerance for values, equal otherwise."""
    if isinstance(form, ValueForm) and isinstance(a, float) and isinstance(b, float):
        return _same(form, a, b)
    return a == b


def _several(votes: pd.DataFrame) -> pd.DataFrame:
    counts = votes.groupby(schema.SAMPLE_ID)[REVIEWER].transform("size") if len(votes) else None
    return votes[counts >= 2] if len(votes) else votes


def _alpha(matrix: np.ndarray, level: str) -> float | None:
    """Krippendorff's alpha of (annotators × units) data; None without two units or two distinct values."""
    import krippendorff

    units = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2] if matrix.size else matrix
    values = units[~np.isnan(units)] if units.size else units
    if units.shape[1] < 2 or len(np.unique(values)) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=units, level_of_measurement=level))


def kind_agreement(votes: pd.DataFrame, form: LabelForm) -> dict:
    """Krippendorff's alpha over the samples with ≥ 2 votes: {"metric", "value", "n_samples"} (+ "per_tag" for
    tags: {tag index: alpha or None}). Remove votes are missing values here (they name neither tags nor a value)."""
    several = _several(votes)
    n_samples = int(several[schema.SAMPLE_ID].nunique()) if len(several) else 0
    named = _label_votes(several, form)
    reviewers = sorted(set(named[REVIEWER])) if len(named) else []
    samples = sorted(set(named[schema.SAMPLE_ID])) if len(named) else []
    row_of = {name: i for i, name in enumerate(reviewers)}
    col_of = {sample_id: j for j, sample_id in enumerate(samples)}
    if isinstance(form, ValueForm):
        matrix = np.full((len(reviewers), len(samples)), np.nan)
        for name, sample_id, value in zip(named[REVIEWER], named[schema.SAMPLE_ID], named[OUTCOME]):
            matrix[row_of[name], col_of[sample_id]] = value
        return {"metric": "krippendorff_alpha_interval", "value": _alpha(matrix, "interval"), "n_samples": n_samples}
    n_tags = _n_tags(form, list(named[OUTCOME]), None) if len(named) else (form.n_tags or 0)
    cube = np.full((len(reviewers), len(samples), n_tags), np.nan)
    for name, sample_id, tags in zip(named[REVIEWER], named[schema.SAMPLE_ID], named[OUTCOME]):
        cube[row_of[name], col_of[sample_id], :] = 0.0
        cube[row_of[name], col_of[sample_id], list(tags)] = 1.0
    per_tag = {tag: _alpha(cube[:, :, tag], "nominal") for tag in range(n_tags)}
    value = _alpha(cube.reshape(len(reviewers), len(samples) * n_tags), "nominal")
    return {"metric": "krippendorff_alpha_nominal_per_tag", "value": value, "n_samples": n_samples,
            "per_tag": per_tag}


def suggestion(form: LabelForm, probs: np.ndarray | None, sample_id: int) -> tuple[object, float | None]:
    """The model's label for one sample and how sure it is: tags with sigmoid ≥ 0.5 and the mean max(p, 1 − p);
    a value (its stored prediction) and None."""
    if probs is None:
        return None, None
    row = np.asarray(probs, np.float64)[sample_id].reshape(-1)
    if isinstance(form, TagForm):
        return [int(t) for t in np.flatnonzero(row >= 0.5)], float(np.maximum(row, 1 - row).mean())
    return float(row[0]), None


def plain(label: object) -> object:
    """A label as JSON would hold it (a tag tuple as a list)."""
    if label is None or label is pd.NA or (isinstance(label, float) and np.isnan(label)):
        return None
    if isinstance(label, tuple):
        return [int(t) for t in label]
    if isinstance(label, (float, np.floating)):
        return float(label)
    return int(label)
