"""The registries of noise-rate estimators and label suggesters (light: nothing here imports numpy).

NOISE_ESTIMATORS: target a `NoiseEstimator` (core.estimate.noise_rate): `rate(inputs) -> float`,
the estimated share of training labels that are wrong, in [0, 1], and `posterior(inputs, rate) ->
(n,) float64`, each sample's estimated probability that its given label is wrong (summing to
about rate·n), from which the estimated precision and recall of any ranking at any budget follow
(core.estimate.noise_rate.precision_recall). Meta `tasks`: the task kinds it applies to
(core.estimate.noise_rate.estimator_for).
LABEL_SUGGESTERS: meta `probs`, which probabilities the suggestion reads (`oof_probs` or `probs`,
fields of EstimateInputs); the suggestion is their top class (core.estimate.suggest).

Adding an estimator is one function pair in core.estimate.noise_rate and one line here.
"""

from core.registry import Registry

_N = "core.estimate.noise_rate"
_T = "core.estimate.task_noise"
ALL_TASKS = ("classification", "multilabel", "regression")
NOISE_ESTIMATORS = Registry("noise-rate estimator")
NOISE_ESTIMATORS.add("confident_joint", "cleanlab's calibrated confident joint of given and true labels on "
                     "out-of-fold probabilities: 1 − its trace", f"{_N}:CONFIDENT_JOINT", tasks=("classification",))
NOISE_ESTIMATORS.add("l2_mixture", "two-component Gaussian mixture on the log primary scores (BIC picks one or "
                     "two): the upper component's weight", f"{_N}:L2_MIXTURE", tasks=ALL_TASKS)
NOISE_ESTIMATORS.add("counterfactual", "share of samples whose given label's gradient is larger than some other "
                     "label's (‖p − e_y‖ > min_c ‖p − e_c‖, out-of-fold p)", f"{_N}:COUNTERFACTUAL",
                     tasks=("classification",))
NOISE_ESTIMATORS.add("tagset_counterfactual", "multi-label: share of samples whose given tag set's gradient is larger "
                     "than some other set's (‖σ − y‖ > min_t ‖σ − t‖: some |σ_c − y_c| > ½, out-of-fold σ)",
                     f"{_T}:TAGSET_COUNTERFACTUAL", tasks=("multilabel",))
NOISE_ESTIMATORS.add("residual_mixture", "regression: scale mixture of two zero-mean Gaussians on the robustly "
                     "standardized out-of-fold residuals (BIC picks one or two): the wide component's weight",
                     f"{_T}:RESIDUAL_MIXTURE", tasks=("regression",))
TASK_NOISE_ESTIMATORS = {"classification": "counterfactual", "multilabel": "l2_mixture",
                         "regression": "residual_mixture"}
"""The estimator a run of each task kind uses when `suggest.noise_estimator` does not apply to it (docs/tasks.md
measures the choice)."""

LABEL_SUGGESTERS = Registry("label suggester")
LABEL_SUGGESTERS.add("counterfactual", "the class whose label gives the smallest in-sample last-layer gradient, "
                     "argmin_c ‖p − e_c‖·‖[h, 1]‖ = argmax_c p_c of the analyzed model (the default by measurement, "
                     "docs/budget.md)", probs="probs")
LABEL_SUGGESTERS.add("out_of_fold", "the top class of the out-of-fold probabilities (models that never saw the "
                     "sample's label)", probs="oof_probs")
