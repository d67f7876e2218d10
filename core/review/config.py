"""Settings of the review actions on an analyzed run (`gradsift rerank`, `gradsift conflicts`).

Not RunConfig sections: they come after the analysis and do not change it. Each is stored with
the result it made (its parquet footer), so a result always says how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.config import _check_at_least, _check_fraction, setting
from core.errors import ConfigError
from core.review.registry import NEIGHBOR_METRICS, RERANK_METHODS


def _check_metric(name: str, value: str) -> None:
    if value not in NEIGHBOR_METRICS:
        raise ConfigError(f"{name}: unknown metric {value!r}; valid: {', '.join(NEIGHBOR_METRICS)}")


@dataclass
class RerankConfig:
    """How the review loop re-ranks the unreviewed samples from the reviewer's decisions (`gradsift rerank`).

    Not a RunConfig section: a re-ranking comes after the analysis and does not change it. Its settings are
    stored with the re-ranking they made (rerank.parquet's footer), so a result always says how it was made.
    """

    method: str = setting("neighbors", "Re-ranking method (docs/review-loop.md measures them): neighbors (the "
                                       "share of nearest neighbours whose label, after the reviews, differs), "
                                       "refit (out-of-fold last-layer refits with the reviews applied), refit_l2, "
                                       "stack, blend or static.")
    folds: int = setting(5, "Folds of the out-of-fold last-layer refits.")
    neighbors: int = setting(10, "Nearest neighbours that vote in the neighbors method.")
    metric: str = setting("cosine", "Distance between feature rows for the neighbors method: cosine or euclidean.")
    max_rows: int = setting(50_000, "Above this many samples the neighbors method searches a candidate set: "
                                    "every reviewed sample and the unreviewed ones refit ranks highest.")

    def __post_init__(self) -> None:
        RERANK_METHODS.check(self.method, "rerank.method")
        _check_at_least("rerank.folds", self.folds, 2)
        _check_at_least("rerank.neighbors", self.neighbors, 1)
        _check_metric("rerank.metric", self.metric)
        _check_at_least("rerank.max_rows", self.max_rows, 2)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ConflictConfig:
    """How near-duplicate pairs with conflicting given labels are searched (`gradsift conflicts`)."""

    neighbors: int = setting(1, "Nearest neighbours searched per sample in the penultimate-feature space (1: "
                                "as many wrong labels reached as with 5, in half the pairs; docs/review-loop.md).")
    metric: str = setting("cosine", "Distance between feature rows: cosine or euclidean.")
    distance_quantile: float = setting(0.75, "Keep pairs no farther apart than this quantile of the samples' "
                                             "nearest-neighbour distances (1 keeps every conflicting neighbour "
                                             "pair): the widest that kept >= 99% of pairs holding a wrong label.")
    max_queries: int = setting(50_000, "Samples whose neighbours are searched (all when fewer; else the flagged "
                                       "ones plus a seeded subsample), each against every sample.")

    def __post_init__(self) -> None:
        _check_at_least("conflicts.neighbors", self.neighbors, 1)
        _check_metric("conflicts.metric", self.metric)
        _check_fraction("conflicts.distance_quantile", self.distance_quantile, high_open=False)
        _check_at_least("conflicts.max_queries", self.max_queries, 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
