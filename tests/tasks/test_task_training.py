"""Training under each task's loss: the convex probe reaches the same optimum as scikit-learn's solvers of the
same objective, and minibatch training learns a multi-label and a regression problem."""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge

from core.config import TrainConfig
from core.models.probe import train_linear_probe
from core.models.training import predict_probs, train_model
from core.tasks.base import make_task


def _tabular(n: int = 400, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x, rng.normal(size=(d, 3))


def test_regression_probe_is_ridge_on_the_standardized_target():
    x, weights = _tabular()
    y = 40.0 + 15.0 * (x @ weights[:, 0]) + np.random.default_rng(1).normal(0, 3, len(x))
    task = make_task("regression", y)
    reg = 0.01
    head = train_linear_probe(x, y, 1, reg, seed=0, max_iter=500, task=task)
    standardized = (y - task.center) / task.scale
    # mean ½(z − ỹ)² + reg/2‖W‖² is, times 2n, scikit-learn's Σ(z − ỹ)² + α‖W‖² with α = n·reg.
    ridge = Ridge(alpha=len(x) * reg).fit(x, standardized)
    np.testing.assert_allclose(head.weight.detach().numpy()[0], ridge.coef_, rtol=1e-3, atol=1e-4)
    assert abs(float(head.bias.detach()) - ridge.intercept_) < 1e-4


def test_robust_regression_probe_reaches_the_huber_optimum_and_resists_wild_targets():
    x, weights = _tabular()
    clean = 40.0 + 15.0 * (x @ weights[:, 0]) + np.random.default_rng(1).normal(0, 3, len(x))
    wild = clean.copy()
    wild[:20] *= 100.0  # a unit error on 5% of the rows
    reg = 0.01
    fits = {}
    for delta in (0.0, 1.345):
        task = make_task("regression", wild, huber_delta=delta)
        head = train_linear_probe(x, wild, 1, reg, seed=0, max_iter=500, task=task)
        fits[delta] = head
        # at the optimum the objective's gradient vanishes: mean ψ(z − ỹ) h̃ + reg·[W, 0] = 0, ψ Huber's clip
        z = head(torch.as_tensor(x)).detach().double().numpy()[:, 0]
        psi = z - (wild - task.center) / task.scale
        if delta:
            psi = np.clip(psi, -delta, delta)
        gradient_w = (psi[:, None] * x).mean(axis=0) + reg * head.weight.detach().double().numpy()[0]
        assert np.abs(gradient_w).max() < 1e-3 and abs(psi.mean()) < 1e-3
    clean_rows = np.arange(20, len(x))
    predict = {delta: task.center + task.scale * head(torch.as_tensor(x[clean_rows])).detach().numpy()[:, 0]
               for delta, head in fits.items()}
    errors = {delta: np.abs(values - clean[clean_rows]).mean() for delta, values in predict.items()}
    assert errors[1.345] < 0.2 * errors[0.0]  # the squared error chases the wild targets, Huber does not


def test_multilabel_probe_is_one_logistic_regression_per_tag():
    x, weights = _tabular()
    tags = (x @ weights + np.random.default_rng(2).normal(0, 0.5, (len(x), 3)) > 0).astype(np.uint8)
    reg = 0.01
    head = train_linear_probe(x, tags, 3, reg, seed=0, max_iter=500, task=make_task("multilabel", tags))
    for tag in range(3):
        # mean Σ_c BCE + reg/2‖W‖² is, times n, per tag Σ BCE + 1/(2C)‖w‖² with C = 1/(n·reg).
        reference = LogisticRegression(C=1.0 / (len(x) * reg), tol=1e-10, max_iter=5000).fit(x, tags[:, tag])
        np.testing.assert_allclose(head.weight.detach().numpy()[tag], reference.coef_[0], rtol=2e-3, atol=2e-4)


def test_mlp_learns_tags_and_values_under_their_losses():
    x, weights = _tabular(n=600)
    cfg = TrainConfig(epochs=30, min_steps=300, batch_size=64, lr=3e-3)
    tags = (x @ weights > 0).astype(np.uint8)
    task = make_task("multilabel", tags)
    result = train_model("mlp", "tabular", x[:500], tags[:500], 3, cfg, seed=0, show_bar=False, task=task)
    preds = predict_probs(result.model, x[500:], task=task)
    assert preds.shape == (100, 3) and ((preds >= 0) & (preds <= 1)).all()
    assert task.metrics(preds, tags[500:])["micro_f1"] > 0.85

    values = 100.0 + 30.0 * np.tanh(x @ weights[:, 0])
    task = make_task("regression", values[:500])
    result = train_model("mlp", "tabular", x[:500], values[:500], 1, cfg, seed=0, show_bar=False, task=task)
    preds = predict_probs(result.model, x[500:], task=task)
    assert preds.shape == (100, 1)
    # a constant guess (the training median) has the target's spread as its RMSE; the model must do far better
    assert task.metrics(preds, values[500:])["rmse"] < 0.3 * values[500:].std()


def test_training_is_seeded_for_every_task():
    x, weights = _tabular(n=200)
    values = x @ weights[:, 0]
    task = make_task("regression", values)
    cfg = TrainConfig(epochs=3, min_steps=10)
    runs = [train_model("mlp", "tabular", x, values, 1, cfg, seed=4, show_bar=False, task=task) for _ in range(2)]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)
