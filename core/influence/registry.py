"""The registries of influence and label-quality baselines (light: no torch, no cleanlab).

INFLUENCE_METHODS: target `fn(train_grads, val_grad, hessian_or_hvp, **opts) -> (n,) harm`
(core.influence.methods); meta `needs_hessian`, `needs_val_grad`.
LABEL_QUALITY_METHODS: meta `cleanlab_method`, the `method=` name of cleanlab's
`get_label_quality_scores` (core.influence.label_quality), and `tasks`, the task kinds it applies to
(classification: cleanlab.rank; multilabel: cleanlab.multilabel_classification.rank; regression:
cleanlab.regression.rank).
"""

from core.registry import Registry

INFLUENCE_METHODS = Registry("influence method")
_M = "core.influence.methods"
INFLUENCE_METHODS.add("exact", "−vᵀ(H+λI)⁻¹g with the true Hessian (small p)", f"{_M}:exact_influence",
                           needs_hessian=True, needs_val_grad=True)
INFLUENCE_METHODS.add("fisher", "−vᵀ(GᵀG/n+λI)⁻¹g: empirical Fisher, the reference code's 'exact'",
                           f"{_M}:fisher_influence", needs_hessian=False, needs_val_grad=True)
INFLUENCE_METHODS.add("lissa", "Koh & Liang LiSSA approximation of −vᵀH⁻¹g", f"{_M}:lissa_influence",
                           needs_hessian=True, needs_val_grad=True)
INFLUENCE_METHODS.add("datainf", "DataInf closed-form inverse (Kwon et al. 2024)", f"{_M}:datainf_influence",
                           needs_hessian=False, needs_val_grad=True)
INFLUENCE_METHODS.add("tracing", "gradient tracing / TracIn, one checkpoint: −v·g", f"{_M}:tracing_influence",
                           needs_hessian=False, needs_val_grad=True)
INFLUENCE_METHODS.add("self_exact", "self-influence gᵀ(H+λI)⁻¹g, true Hessian", f"{_M}:self_exact_influence",
                           needs_hessian=True, needs_val_grad=False)
INFLUENCE_METHODS.add("self_lissa", "self-influence gᵀH⁻¹g via LiSSA (Bejan et al. 2023)",
                           f"{_M}:self_lissa_influence", needs_hessian=True, needs_val_grad=False)
INFLUENCE_METHODS.add("self_datainf", "self-influence gᵀĤ⁻¹g under DataInf's inverse",
                           f"{_M}:self_datainf_influence", needs_hessian=False, needs_val_grad=False)

OOF_METHODS = Registry("out-of-fold method")
"""How out-of-fold probabilities are made when the gradient mode's are not out-of-fold (core.estimate.out_of_fold):
target `(ctx) -> (n, C)` probabilities; meta `needs_model`, whether it trains the run's network (impossible for a run
on handed-in outputs)."""
OOF_METHODS.add("head", "refit only the last layer on the stored features, K folds (seconds)",
                "core.estimate.out_of_fold:head_oof_probs", needs_model=False)
OOF_METHODS.add("full", "retrain the whole model K times with the run's recipe (minutes and more)",
                "core.estimate.out_of_fold:full_oof_probs", needs_model=True)

LABEL_QUALITY_METHODS = Registry("label-quality method")
_CLASSES = ("classification",)
LABEL_QUALITY_METHODS.add("self_confidence", "1 − P[given label] (Müller & Markert 2019)",
                          cleanlab_method="self_confidence", tasks=_CLASSES)
LABEL_QUALITY_METHODS.add("normalized_margin", "1 − quality from P[given] − max other P (Northcutt et al. 2021)",
                          cleanlab_method="normalized_margin", tasks=_CLASSES)
LABEL_QUALITY_METHODS.add("confidence_weighted_entropy", "1 − quality from entropy(P)/P[given] (Kuan & Mueller 2022)",
                          cleanlab_method="confidence_weighted_entropy", tasks=_CLASSES)
LABEL_QUALITY_METHODS.add("cleanlab_multilabel", "multi-label: 1 − cleanlab.multilabel_classification's label quality "
                          "(each tag's self-confidence, aggregated by an exponential moving average; its defaults)",
                          cleanlab_method="self_confidence", tasks=("multilabel",))
LABEL_QUALITY_METHODS.add("cleanlab_regression", "regression: −log cleanlab.regression's label quality (OUTRE: "
                          "residuals weighed against their neighbours'; its default)", cleanlab_method="outre",
                          tasks=("regression",))
