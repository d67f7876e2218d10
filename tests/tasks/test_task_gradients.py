"""Each task's closed-form residual r = ∂ℓ/∂z against autograd: per-sample head gradients, torch.func for every
parameter, and the probe's hand-written gradient."""

import numpy as np
import pytest
import torch

from core.gradients.func import func_gradients, loop_gradients
from core.gradients.last_layer import LAST_LAYER, closed_form_gradients, flat_head_to_kron, last_layer_factors
from core.models.nets import build_model
from core.tasks.base import make_task, task_from_dict

N, D, C = 12, 5, 4


def _labels(name: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    if name == "classification":
        return rng.integers(0, C, N), C
    if name == "multilabel":
        return (rng.random((N, C)) < 0.4).astype(np.uint8), C
    return rng.normal(50.0, 20.0, N), 1


@pytest.fixture(params=["classification", "multilabel", "regression", "regression-huber"])
def case(request):
    rng = np.random.default_rng(3)
    name, _, robust = request.param.partition("-")
    labels, width = _labels(name, rng)
    # A robust fit (a small threshold, so some rows pass it) analyzes the squared error all the same.
    task = make_task(name, labels, huber_delta=0.5 if robust else 0.0)
    torch.manual_seed(0)
    model = build_model("mlp", (D,), width, "tabular")
    x = rng.normal(size=(N, D)).astype(np.float32)
    model.set_input_stats(torch.as_tensor(x))
    return task, model, x, labels, width


def test_closed_form_head_gradients_equal_autograd(case):
    task, model, x, labels, width = case
    factors = last_layer_factors(model, x, labels, task=task)
    reference = flat_head_to_kron(loop_gradients(model, x, labels, list(LAST_LAYER), task=task), width,
                                  model.feature_dim)
    np.testing.assert_allclose(closed_form_gradients(factors), reference, rtol=1e-4, atol=1e-6)


def test_torch_func_gradients_of_every_parameter_equal_the_loop(case):
    task, model, x, labels, _ = case
    fast = np.concatenate([chunk for _, chunk in func_gradients(model, x, labels, chunk_size=5, task=task)])
    np.testing.assert_allclose(fast, loop_gradients(model, x, labels, task=task), rtol=1e-4, atol=1e-6)


def test_stored_residual_and_loss_match_autograd_in_the_outputs(case):
    task, model, x, labels, _ = case
    outputs = torch.randn(N, model.head.out_features, dtype=torch.float64, requires_grad=True)
    targets = task.targets(labels).to(outputs.dtype) if task.name != "classification" else task.targets(labels)
    per_sample = task.analysis_loss(outputs, targets, reduction="none")
    (autograd_residual,) = torch.autograd.grad(per_sample.sum(), outputs)
    preds = task.predict(outputs.detach()).double().numpy()
    np.testing.assert_allclose(task.residual(preds, labels, np.float64), autograd_residual.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(task.sample_loss(preds, labels), per_sample.detach().numpy(), rtol=1e-4)
    # The probe's hand-written gradient is the training loss's (Huber's for a robust regression).
    training = task.loss(outputs, targets, reduction="none")
    (training_residual,) = torch.autograd.grad(training.sum(), outputs)
    total, residual = task.loss_and_residual(outputs.detach().float(), task.targets(labels))
    np.testing.assert_allclose(residual.numpy(), training_residual.numpy(), rtol=1e-4, atol=1e-5)
    assert float(total) == pytest.approx(float(training.sum().detach()), rel=1e-4)
    if getattr(task, "huber_delta", 0):
        assert not np.allclose(training_residual.numpy(), autograd_residual.numpy())  # some rows pass δ


def test_task_round_trips_through_the_manifest(case):
    task = case[0]
    rebuilt = task_from_dict(task.as_dict())
    assert type(rebuilt) is type(task) and rebuilt.as_dict() == task.as_dict()
