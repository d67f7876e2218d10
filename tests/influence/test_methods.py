"""Influence baselines: Hessians against autograd, scores against leave-one-out retraining, fast paths against loops."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import roc_auc_score
from torch.nn import functional as F

from core.errors import ConfigError, DataError
from core.influence.hessians import (
    empirical_fisher,
    last_layer_hessian,
    last_layer_hvp,
    model_hessian,
    model_hvp,
)
from core.influence.methods import influence_scores
from core.influence.registry import INFLUENCE_METHODS
from core.influence.solvers import damped_eigh, lissa_solve
from core.models.nets import build_model

ALL_METHODS = ["exact", "fisher", "lissa", "datainf", "tracing", "self_exact", "self_lissa", "self_datainf"]


def kron_grads(features, probs, labels):
    """(n, C·(D+1)) last-layer gradients kron(p − e_y, [h, 1])."""
    residual = probs.copy()
    residual[np.arange(len(labels)), labels] -= 1.0
    h_aug = np.c_[features, np.ones(len(features))]
    return np.einsum("ic,id->icd", residual, h_aug).reshape(len(labels), -1)


def tiny_model(seed=0, n=12, d_in=4, n_classes=3):
    torch.manual_seed(seed)
    model = build_model("mlp", (d_in,), n_classes, "tabular").double().eval()
    x = torch.randn(n, d_in, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,))
    return model, x, y


def head_flat_to_kron_perm(n_classes, feat_dim):
    """perm such that H_kron = H_flat[perm][:, perm], flat = [head.weight.flatten(), head.bias]."""
    perm = []
    for c in range(n_classes):
        perm += [c * feat_dim + d for d in range(feat_dim)] + [n_classes * feat_dim + c]
    return np.array(perm)


# --------------------------------------------------------------------------- Hessians


@pytest.mark.parametrize("include_bias", [True, False])
def test_last_layer_hessian_matches_torch_func_hessian(include_bias):
    model, x, y = tiny_model()
    weight_decay = 0.03
    with torch.no_grad():
        h = model.features(x)
        probs = torch.softmax(model(x), 1)
    h_aug = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1) if include_bias else h
    n_classes = model.n_classes

    fixed_bias = 0.0 if include_bias else model.head.bias.detach()

    def loss(flat_theta):
        theta = flat_theta.reshape(n_classes, h_aug.shape[1])  # row c = [W_c, b_c]: the kron layout
        return F.cross_entropy(h_aug @ theta.T + fixed_bias, y) + 0.5 * weight_decay * (flat_theta**2).sum()

    theta0 = model.head.weight.detach()
    if include_bias:
        theta0 = torch.cat([theta0, model.head.bias.detach()[:, None]], 1)
    reference = torch.func.hessian(loss)(theta0.reshape(-1)).numpy()
    ours = last_layer_hessian(h.numpy(), probs.numpy(), include_bias=include_bias, weight_decay=weight_decay)
    assert ours.shape == reference.shape == (n_classes * h_aug.shape[1],) * 2
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_model_hessian_and_hvps_agree_with_last_layer_hessian():
    model, x, y = tiny_model(seed=1)
    with torch.no_grad():
        h, probs = model.features(x).numpy(), torch.softmax(model(x), 1).numpy()
    dense = last_layer_hessian(h, probs, weight_decay=0.01)
    flat = model_hessian(model, x, y, ["head.weight", "head.bias"], weight_decay=0.01)
    perm = head_flat_to_kron_perm(model.n_classes, model.feature_dim)
    np.testing.assert_allclose(flat[perm][:, perm], dense, atol=1e-12)

    vectors = np.random.default_rng(0).standard_normal((dense.shape[0], 3))
    np.testing.assert_allclose(last_layer_hvp(h, probs, weight_decay=0.01, chunk_rows=5)(vectors), dense @ vectors,
                               atol=1e-12)
    np.testing.assert_allclose(model_hvp(model, x, y, ["head.weight", "head.bias"], 0.01)(vectors[perm]),
                               flat @ vectors[perm], atol=1e-12)


@pytest.mark.slow
def test_model_hessian_of_all_parameters_is_symmetric_and_sized():
    model, x, y = tiny_model(seed=2, n=6, d_in=2, n_classes=2)
    names = [name for name, _ in model.named_parameters()]
    full = model_hessian(model, x, y, names)
    p = sum(param.numel() for param in model.parameters())
    assert full.shape == (p, p)
    np.testing.assert_allclose(full, full.T, atol=1e-10)
    with pytest.raises(ConfigError, match="unknown parameter"):
        model_hessian(model, x, y, ["nope.weight"])


def test_empirical_fisher_is_gram_over_n_plus_damping():
    grads = np.random.default_rng(0).standard_normal((9, 4))
    np.testing.assert_allclose(empirical_fisher(grads, 0.5, chunk_rows=2), grads.T @ grads / 9 + 0.5 * np.eye(4))


def test_damping_is_raised_until_positive_definite():
    # The softmax head without weight decay has a singular Hessian (shift every class row by the same vector).
    model, x, _ = tiny_model(seed=3)
    with torch.no_grad():
        h, probs = model.features(x).numpy(), torch.softmax(model(x), 1).numpy()
    hessian = last_layer_hessian(h, probs)
    assert np.linalg.eigvalsh(hessian).min() < 1e-10
    decomposition = damped_eigh(hessian, 0.0)
    assert decomposition.damping > 0
    assert (decomposition.eigenvalues + decomposition.damping).min() > 0
    assert damped_eigh(hessian + np.eye(len(hessian)), 0.0).damping == 0.0
    with pytest.raises(ConfigError):
        damped_eigh(hessian, -1.0)


# --------------------------------------------------------------------------- leave-one-out truth


N_TRAIN, N_VAL, N_FEATURES, N_CLASSES, WEIGHT_DECAY = 90, 300, 3, 3, 0.02


def _objective(theta, x, y, weights):
    """Σ_i w_i ℓ_i / N_TRAIN + wd/2 ‖θ‖²: removing sample j sets w_j = 0 (ε = −1/n in the influence function)."""
    logits = x @ theta[:, :-1].T + theta[:, -1]
    return (F.cross_entropy(logits, y, reduction="none") * weights).sum() / N_TRAIN \
        + 0.5 * WEIGHT_DECAY * (theta**2).sum()


def _fit(x, y, weights, init):
    theta = init.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([theta], lr=1, max_iter=500, tolerance_grad=1e-13, tolerance_change=1e-16,
                                  history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = _objective(theta, x, y, weights)
        loss.backward()
        return loss

    optimizer.step(closure)
    theta = theta.detach()
    # Polish with Newton steps (autograd Hessian, independent of core.influence.methods) so the optimum is exact.
    def objective(flat):
        return _objective(flat.reshape(theta.shape), x, y, weights)

    flat = theta.reshape(-1)
    for _ in range(3):
        step = torch.linalg.solve(torch.func.hessian(objective)(flat), torch.func.grad(objective)(flat))
        flat = flat - step
    assert torch.func.grad(objective)(flat).norm() < 1e-12, "the refit did not reach the optimum"
    return flat.reshape(theta.shape)


@pytest.fixture(scope="module")
def loo_case():
    """Softmax logistic regression (3 classes, 3 features, L2) on blobs with 8 flipped labels, and LOO truth."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((N_CLASSES, N_FEATURES)) * 1.6

    def sample(n):
        labels = rng.integers(0, N_CLASSES, n)
        return centers[labels] + rng.standard_normal((n, N_FEATURES)), labels

    x, true_labels = sample(N_TRAIN)
    x_val, y_val = sample(N_VAL)
    labels = true_labels.copy()
    flipped = rng.choice(N_TRAIN, 8, replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, N_CLASSES, len(flipped))) % N_CLASSES

    xt, yt = torch.tensor(x), torch.tensor(labels)
    xv, yv = torch.tensor(x_val), torch.tensor(y_val)
    theta = _fit(xt, yt, torch.ones(N_TRAIN, dtype=torch.float64), torch.zeros(N_CLASSES, N_FEATURES + 1,
                                                                               dtype=torch.float64))

    def val_loss(params):
        return F.cross_entropy(xv @ params[:, :-1].T + params[:, -1], yv).item()

    base = val_loss(theta)
    delta = np.empty(N_TRAIN)  # L_val(without j) − L_val(with j): negative = removing j helps
    for j in range(N_TRAIN):
        weights = torch.ones(N_TRAIN, dtype=torch.float64)
        weights[j] = 0.0
        delta[j] = val_loss(_fit(xt, yt, weights, theta)) - base

    with torch.no_grad():
        probs = torch.softmax(xt @ theta[:, :-1].T + theta[:, -1], 1).numpy()
        val_probs = torch.softmax(xv @ theta[:, :-1].T + theta[:, -1], 1).numpy()
    train_grads = kron_grads(x, probs, labels)
    val_grad = kron_grads(x_val, val_probs, y_val).mean(axis=0)
    hessian = last_layer_hessian(x, probs, include_bias=True, weight_decay=WEIGHT_DECAY)
    is_flipped = np.zeros(N_TRAIN, bool)
    is_flipped[flipped] = True
    return dict(train_grads=train_grads, val_grad=val_grad, hessian=hessian, delta=delta, is_flipped=is_flipped,
                features=x, probs=probs)


def test_exact_influence_matches_leave_one_out(loo_case):
    harm = influence_scores("exact", loo_case["train_grads"], loo_case["val_grad"], hessian=loo_case["hessian"])
    loo_harm = -loo_case["delta"]  # higher = removing the sample lowers validation loss more
    rho = spearmanr(harm, loo_harm)[0]
    # Not only the ranking: harm ≈ −n·Δ to first order, so the values line up too (slope ≈ 1).
    r = pearsonr(harm / N_TRAIN, loo_harm)[0]
    slope = np.polyfit(harm / N_TRAIN, loo_harm, 1)[0]
    print(f"exact vs LOO: Spearman {rho:.4f}, Pearson {r:.4f}, slope of −Δ on harm/n {slope:.3f}")
    assert rho >= 0.9
    assert r >= 0.9 and 0.8 < slope < 1.25
    # Orientation: the top-scored samples really lower the validation loss when removed, the bottom ones raise it.
    order = np.argsort(-harm)
    assert np.all(loo_case["delta"][order[:5]] < 0)
    assert np.all(loo_case["delta"][order[-5:]] > 0)


def test_lissa_matches_leave_one_out_and_exact(loo_case):
    args = (loo_case["train_grads"], loo_case["val_grad"])
    exact = influence_scores("exact", *args, hessian=loo_case["hessian"])
    info = {}
    lissa = influence_scores("lissa", *args, hessian=loo_case["hessian"], info=info)
    rho = spearmanr(lissa, -loo_case["delta"])[0]
    print(f"lissa vs LOO: Spearman {rho:.4f} (scale {info['scale']:.3g}, {info['iterations_run']} iterations)")
    assert info["converged"]
    assert rho >= 0.85
    assert spearmanr(lissa, exact)[0] > 0.99
    # The same scores through the matrix-free last-layer hvp.
    hvp = last_layer_hvp(loo_case["features"], loo_case["probs"], weight_decay=WEIGHT_DECAY)
    np.testing.assert_allclose(influence_scores("lissa", *args, hvp=hvp), lissa, rtol=1e-8, atol=1e-12)


def test_every_method_is_oriented_like_leave_one_out(loo_case):
    """Cheaper approximations rank less well, but none may have the sign flipped."""
    args = (loo_case["train_grads"], loo_case["val_grad"])
    for method in ["fisher", "datainf", "tracing"]:
        rho = spearmanr(influence_scores(method, *args), -loo_case["delta"])[0]
        print(f"{method} vs LOO: Spearman {rho:.4f}")
        assert rho > 0.5, method


def test_self_influence_varies_and_ranks_flipped_labels_high(loo_case):
    grads, hessian = loo_case["train_grads"], loo_case["hessian"]
    for method in ["self_exact", "self_lissa", "self_datainf"]:
        scores = influence_scores(method, grads, hessian=hessian)
        assert scores.shape == (N_TRAIN,)
        assert np.all(scores >= 0)
        assert np.std(scores) > 1e-3 * np.mean(scores), f"{method} is (nearly) constant"
        assert len(np.unique(np.round(scores, 12))) > N_TRAIN // 2
        auroc = roc_auc_score(loo_case["is_flipped"], scores)
        print(f"{method}: AUROC for flipped labels {auroc:.3f}")
        assert auroc > 0.8, method


def test_self_exact_is_g_h_inverse_g(loo_case):
    grads, hessian = loo_case["train_grads"], loo_case["hessian"]
    reference = np.array([g @ np.linalg.solve(hessian, g) for g in grads])
    np.testing.assert_allclose(influence_scores("self_exact", grads, hessian=hessian), reference, rtol=1e-8)


def test_fisher_is_separate_from_exact(loo_case):
    args = (loo_case["train_grads"], loo_case["val_grad"])
    exact = influence_scores("exact", *args, hessian=loo_case["hessian"])
    info = {}
    fisher = influence_scores("fisher", *args, damping=1e-3, info=info)
    assert info["hessian"] == "empirical_fisher" and info["damping"] == 1e-3
    fisher_matrix = empirical_fisher(loo_case["train_grads"], 1e-3)
    np.testing.assert_allclose(influence_scores("exact", *args, hessian=fisher_matrix), fisher, rtol=1e-8)
    assert not np.allclose(fisher, exact, rtol=0.05)


# --------------------------------------------------------------------------- LiSSA, DataInf, tracing


def _spd(p, low, high, seed):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((p, p)))
    return basis @ np.diag(np.linspace(low, high, p)) @ basis.T


def test_lissa_converges_to_the_damped_inverse():
    hessian = _spd(12, 1.0, 10.0, seed=0)
    rhs = np.random.default_rng(1).standard_normal(12)
    info = {}
    solved = lissa_solve(lambda v: hessian @ v, rhs, damping=0.05, scale=15.0, iterations=5000, info=info)
    assert info["converged"] and info["effective_damping"] == pytest.approx(0.05 * 15.0)
    np.testing.assert_allclose(solved, np.linalg.solve(hessian + 0.75 * np.eye(12), rhs), rtol=1e-6)


def test_lissa_agrees_with_exact_on_a_well_conditioned_case():
    rng = np.random.default_rng(2)
    hessian = _spd(10, 0.5, 4.0, seed=3)
    grads, val = rng.standard_normal((40, 10)), rng.standard_normal(10)
    exact = influence_scores("exact", grads, val, hessian=hessian)
    lissa = influence_scores("lissa", grads, val, hessian=hessian, damping=0.0, iterations=5000)
    np.testing.assert_allclose(lissa, exact, rtol=1e-5, atol=1e-8)
    info = {}
    damped = influence_scores("lissa", grads, val, hvp=lambda v: hessian @ v, damping=0.02, info=info)
    np.testing.assert_allclose(damped, influence_scores("exact", grads, val, hessian=hessian,
                                                        damping=info["effective_damping"]), rtol=1e-5, atol=1e-8)
    self_lissa = influence_scores("self_lissa", grads, hessian=hessian, damping=0.0, iterations=5000, batch_size=7)
    np.testing.assert_allclose(self_lissa, influence_scores("self_exact", grads, hessian=hessian), rtol=1e-5)


def test_lissa_divergence_is_reported():
    indefinite = np.diag([2.0, -1.0])
    with pytest.raises(ConfigError, match="diverged"):
        lissa_solve(lambda v: indefinite @ v, np.ones(2), damping=0.0, iterations=5000)


def _datainf_loop(grads, val, block_sizes):
    """DataInf written as in the paper, one sample and one block at a time."""
    n = len(grads)
    out, start = np.zeros(n), 0
    for size in block_sizes:
        cols = slice(start, start + size)
        start += size
        lam = 0.1 * np.mean([np.sum(g[cols] ** 2) for g in grads]) / size
        h = np.zeros(size)
        for g in grads:
            g_l = g[cols]
            h += (val[cols] - (val[cols] @ g_l) / (lam + g_l @ g_l) * g_l) / (n * lam)
        out += np.array([-(h @ g[cols]) for g in grads])
    return out


def _self_datainf_loop(grads, block_sizes):
    """Self-influence under DataInf's inverse Ĥ⁻¹ = (1/(nλ)) Σ_k (I − g_k g_kᵀ/(λ + ‖g_k‖²)), materialized."""
    n = len(grads)
    out, start = np.zeros(n), 0
    for size in block_sizes:
        cols = slice(start, start + size)
        start += size
        lam = 0.1 * np.mean([np.sum(g[cols] ** 2) for g in grads]) / size
        inverse = sum(np.eye(size) - np.outer(g[cols], g[cols]) / (lam + g[cols] @ g[cols]) for g in grads) / (n * lam)
        out += np.array([g[cols] @ inverse @ g[cols] for g in grads])
    return out


@pytest.mark.parametrize("block_sizes", [None, {"weight": 6, "bias": 3}])
def test_datainf_matches_a_loop(block_sizes):
    rng = np.random.default_rng(4)
    grads = rng.standard_normal((25, 9)).astype(np.float32)
    val = rng.standard_normal(9)
    sizes = list(block_sizes.values()) if block_sizes else [9]
    info = {}
    ours = influence_scores("datainf", grads, val, block_sizes=block_sizes, chunk_rows=4, info=info)
    np.testing.assert_allclose(ours, _datainf_loop(grads.astype(np.float64), val, sizes), rtol=1e-9)
    assert set(info["lambdas"]) == (set(block_sizes) if block_sizes else {"all"})


@pytest.mark.parametrize("shape", [(30, 5), (6, 11)])  # d ≤ n: explicit M; d > n: Gram tiles
def test_self_datainf_matches_a_loop_and_is_not_constant(shape):
    grads = np.random.default_rng(5).standard_normal(shape)
    ours = influence_scores("self_datainf", grads, chunk_rows=4)
    np.testing.assert_allclose(ours, _self_datainf_loop(grads, [shape[1]]), rtol=1e-9)
    assert np.ptp(ours) > 1e-3 * np.abs(ours).mean()


def test_datainf_with_one_sample_is_the_exact_sherman_morrison_inverse():
    """n = 1: DataInf's inverse (1/λ)(I − ggᵀ/(λ + ‖g‖²)) is exactly (ggᵀ + λI)⁻¹."""
    rng = np.random.default_rng(6)
    grad, val = rng.standard_normal((1, 7)), rng.standard_normal(7)
    lam = 0.1 * np.sum(grad**2) / 7
    expected = -grad @ np.linalg.solve(np.outer(grad, grad) + lam * np.eye(7), val)
    np.testing.assert_allclose(influence_scores("datainf", grad, val), expected, rtol=1e-10)


def test_tracing_is_minus_the_dot_product_and_chunking_is_exact():
    rng = np.random.default_rng(7)
    grads, val = rng.standard_normal((50, 6)).astype(np.float32), rng.standard_normal(6)
    np.testing.assert_allclose(influence_scores("tracing", grads, val, chunk_rows=7), -(grads.astype(float) @ val))
    hessian = _spd(6, 1.0, 3.0, seed=8)
    for method in ["exact", "self_exact"]:
        np.testing.assert_allclose(influence_scores(method, grads, val, hessian=hessian, chunk_rows=7),
                                   influence_scores(method, grads, val, hessian=hessian), rtol=1e-12)


def test_exact_from_hvp_materializes_the_hessian():
    rng = np.random.default_rng(9)
    hessian = _spd(8, 1.0, 2.0, seed=10)
    grads, val = rng.standard_normal((10, 8)), rng.standard_normal(8)
    np.testing.assert_allclose(influence_scores("exact", grads, val, hvp=lambda v: hessian @ v),
                               influence_scores("exact", grads, val, hessian=hessian), rtol=1e-12)
    with pytest.raises(ConfigError, match="max_dense_dim"):
        influence_scores("exact", grads, val, hvp=lambda v: hessian @ v, max_dense_dim=4)


# --------------------------------------------------------------------------- entry point


def test_registry_and_entry_point_errors():
    assert set(ALL_METHODS) == set(INFLUENCE_METHODS)
    grads, val = np.ones((3, 2)), np.ones(2)
    with pytest.raises(ConfigError, match="valid methods: .*exact.*lissa"):
        influence_scores("koh_liang", grads, val)
    with pytest.raises(ConfigError, match="needs a Hessian"):
        influence_scores("exact", grads, val)
    with pytest.raises(ConfigError, match="needs val_grad"):
        influence_scores("tracing", grads)
    with pytest.raises(ConfigError, match="does not take"):
        influence_scores("tracing", grads, val, damping=0.1)
    with pytest.raises(ConfigError, match="not both"):
        influence_scores("exact", grads, val, hessian=np.eye(2), hvp=lambda v: v)
    with pytest.raises(DataError, match="val_grad"):
        influence_scores("tracing", grads, np.ones(3))
    with pytest.raises(ConfigError, match="block_sizes sum"):
        influence_scores("datainf", grads, val, block_sizes={"a": 1})
