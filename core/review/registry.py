"""The registry of re-ranking methods of the review loop (light: nothing here imports numpy).

Every method works for every task kind (classification, multi-label, regression).

Target: `method(inputs: LoopInputs, state: ReviewState, refits: Refits) -> (n,) float64 scores`, higher =
review sooner; `refits` computes the last-layer refits with the reviews applied on first use and shares
them with the estimate of the errors left (core.review.refit). docs/review-loop.md measures the methods.
"""

from core.registry import Registry

RERANK_METHODS = Registry("re-ranking method")
RERANK_METHODS.add("neighbors", "share of the nearest neighbours in feature space whose label, after the reviews, "
                                "differs; ties broken by refit", "core.review.methods:neighbors_scores")
RERANK_METHODS.add("refit", "normalized margin (tags, values: the task's residual norm) under out-of-fold "
                            "last-layer refits with the reviews applied (relabels used, confirmed-mislabeled left "
                            "out)", "core.review.methods:refit_scores")
RERANK_METHODS.add("refit_l2", "closed-form L2 gradient norm under one last-layer refit with the reviews applied",
                   "core.review.methods:refit_l2_scores")
RERANK_METHODS.add("stack", "logistic regression over every score column (detectors, baselines, the model's "
                            "confidence), fit on confirmed-wrong vs kept", "core.review.methods:stack_scores")
RERANK_METHODS.add("blend", "mean rank of the static score and refit's", "core.review.methods:blend_scores")
RERANK_METHODS.add("static", "the primary detector's score, unchanged (the control)",
                   "core.review.methods:static_scores")

NEIGHBOR_METRICS = ("cosine", "euclidean")
"""Distances the near-duplicate search (core.review.duplicates) offers."""
