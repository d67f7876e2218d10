"""Detection metrics against known truth (which training labels were really changed).

"Outlier detection accuracy" in the paper is not defined precisely. gradsift reports
`precision_at_truth`: the share of truly noisy samples among the top-m scores where
m = the number of truly noisy samples (so precision = recall there), alongside
precision / recall / F1 at the run's budget and the threshold-free AUROC and AP.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from core.detect.flagging import flag, nan_last


def detection_metrics(scores: np.ndarray, is_noisy: np.ndarray, budget: float) -> dict[str, float]:
    """Metrics of one score column (higher = more suspicious) against the (n,) bool truth."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    flagged = flag(scores, budget)
    hits = int((flagged & is_noisy).sum())
    n_noisy = int(is_noisy.sum())
    precision = hits / max(int(flagged.sum()), 1)
    recall = hits / n_noisy if n_noisy else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if n_noisy and precision + recall > 0 else 0.0
    out = {"precision": precision, "recall": recall, "f1": f1, "n_flagged": int(flagged.sum()),
           "n_noisy": n_noisy, "auroc": float("nan"), "ap": float("nan"), "precision_at_truth": float("nan")}
    if 0 < n_noisy < len(is_noisy):
        clean_scores = nan_last(scores)
        out["auroc"] = float(roc_auc_score(is_noisy, clean_scores))
        out["ap"] = float(average_precision_score(is_noisy, clean_scores))
        top = flag(scores, n_noisy / len(is_noisy))
        out["precision_at_truth"] = float((top & is_noisy).sum() / n_noisy)
    return out
