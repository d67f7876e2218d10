"""Shared work with overlap: each annotator's queue, leases, gold samples mixed in, and progress.

A lead sets the overlap (how many annotators must decide each flagged sample; ReviewStore.set_overlap, default 1)
and marks gold samples (ReviewStore.mark_gold). An annotator's queue holds, in ranking order, the samples that
still need a vote and that it has not decided: a sample needs a vote while its votes plus the unexpired leases of
*other* annotators who have not voted on it yet number fewer than the overlap, and no lead has adjudicated it.
Gold samples the annotator has not answered are mixed in, one every `gold_every` places (as CVAT's honeypots),
whatever the overlap: every annotator answers each gold sample once, which measures it (core.review.consensus:
gold_accuracy).

`next_samples` leases what it returns to the annotator in one immediate transaction (ReviewStore.take_leases), so two
annotators asking at once do not race to one sample when the overlap does not call for it; a lease expires after
ReviewStore.lease_seconds() (10 minutes unless a lead changes it) or when the annotator votes.

Pure functions of the store: the dashboard's annotator queue and Team page call them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.run import schema
from core.run.reviews import REVIEWER, ReviewStore
from core.run.votes import Resolution

GOLD_EVERY = 10
"""One gold sample every 10 places of an annotator's queue (while it has gold samples left to answer)."""


def _voters(resolution: Resolution) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for sample_id, reviewer in zip(resolution.votes[schema.SAMPLE_ID].tolist(), resolution.votes[REVIEWER].tolist()):
        out.setdefault(int(sample_id), set()).add(reviewer)
    return out


def queue(ranking: Sequence[int], reviewer: str, resolution: Resolution, overlap: int, gold: dict[int, object],
          leases: dict[int, list[str]], gold_every: int = GOLD_EVERY) -> list[int]:
    """`reviewer`'s queue (module docstring): `ranking` the flagged samples, most suspicious first."""
    reviewer = reviewer.strip()
    voters = _voters(resolution)
    settled = set(resolution.adjudicated.tolist())
    work = []
    for sample_id in (int(i) for i in ranking):
        if sample_id in gold or sample_id in settled:
            continue
        mine = voters.get(sample_id, set())
        if reviewer in mine:
            continue
        others = {holder for holder in leases.get(sample_id, []) if holder != reviewer and holder not in mine}
        if len(mine) + len(others) < overlap:
            work.append(sample_id)
    golds = [i for i in sorted(gold) if reviewer not in voters.get(i, set())]
    if not golds or gold_every < 1:
        return work
    mixed = []
    for position, sample_id in enumerate(work):
        if golds and position % gold_every == gold_every - 1:
            mixed.append(golds.pop(0))
        mixed.append(sample_id)
    return mixed + golds


def annotator_queue(store: ReviewStore, ranking: Sequence[int], reviewer: str, now: float | None = None) -> list[int]:
    """`reviewer`'s queue now, without leasing anything."""
    return queue(ranking, reviewer, store.resolution(), store.overlap(), store.gold(), store.leases(now))


def next_samples(store: ReviewStore, ranking: Sequence[int], reviewer: str, count: int = 1,
                 now: float | None = None) -> list[int]:
    """The next `count` samples of `reviewer`'s queue, leased to it (its own earlier leases first kept)."""
    resolution, overlap, gold = store.resolution(), store.overlap(), store.gold()

    def choose(active: dict[int, list[str]]) -> list[int]:
        return queue(ranking, reviewer, resolution, overlap, gold, active)[:max(count, 0)]

    return store.take_leases(choose, reviewer, now)


def progress(store: ReviewStore, ranking: Sequence[int]) -> dict:
    """Progress overall and per annotator on the flagged samples `ranking`:
    {"overall": {samples, complete, votes_cast, votes_needed, open_disagreements, adjudicated, overlap},
     "annotators": [{name, decided, gold_answered, queue_left}]}. A sample is complete when a lead adjudicated it or
    it has `overlap` votes."""
    resolution, overlap, gold, leases = store.resolution(), store.overlap(), store.gold(), store.leases()
    voters = _voters(resolution)
    ids = [int(i) for i in ranking if int(i) not in gold]
    settled = set(resolution.adjudicated.tolist())
    complete = sum(1 for i in ids if i in settled or len(voters.get(i, ())) >= overlap)
    cast = sum(min(len(voters.get(i, ())), overlap) for i in ids)
    flagged = set(ids)
    annotators = []
    for name in sorted(set(resolution.votes[REVIEWER].tolist())):
        mine = {i for i, names in voters.items() if name in names}
        annotators.append({"name": name, "decided": len(mine & flagged), "gold_answered": len(mine & set(gold)),
                           "queue_left": len(queue(ranking, name, resolution, overlap, gold, leases))})
    return {"overall": {"samples": len(ids), "complete": complete, "votes_cast": cast,
                        "votes_needed": len(ids) * overlap, "open_disagreements": int(len(
                            np.intersect1d(resolution.open_disagreements, ids))),
                        "adjudicated": int(len(settled & flagged)), "overlap": overlap},
            "annotators": annotators}
