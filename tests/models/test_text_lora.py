"""text_lora: LoRA fine-tuning of a local encoder under a classification head, end to end, and its per-sample
LoRA gradients (Linear-layer hooks on one batched backward pass) against a batch-size-1 autograd loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import BaselineConfig, DataConfig, GradientConfig, TrainConfig
from core.data.base import TEXT
from core.gradients.func import loop_gradients, select_parameters
from core.models.encoder import encoder_info, token_inputs
from core.models.nets import build_model
from core.models.training import starting_weights, to_tensor
from core.pipeline.runner import analyze
from core.run import schema
from core.run.results import read_results
from tests.conftest import text_config

pytest.importorskip("peft")


def _model(tiny_encoder, n_classes: int = 3):
    info = encoder_info(tiny_encoder)
    encoder = {**info.__dict__}
    weights = starting_weights("text_lora", TrainConfig(lora_rank=2, lora_alpha=4.0), encoder)
    tokens = token_inputs(["book a table for two", "cancel my flight to Oslo please", "what is my balance",
                           "hi"], info)
    torch.manual_seed(0)
    model = build_model("text_lora", tokens.shape[1:], n_classes, TEXT, weights.state)
    with torch.no_grad():  # LoRA's B starts at zero: move it so the adapters' gradients are not trivial
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    return model.eval(), tokens


def test_hook_gradients_of_the_lora_parameters_match_a_batch_size_one_loop(tiny_encoder):
    model, tokens = _model(tiny_encoder)
    labels = np.array([0, 1, 2, 1])
    names = select_parameters(model, "all")
    assert any("lora_A" in n for n in names) and any("lora_B" in n for n in names) and "head.weight" in names
    assert not any("query.base_layer" in n for n in names)  # the encoder's own weights stay frozen
    fast = np.concatenate([chunk for _, chunk in model.per_sample_gradients(tokens, labels, names, chunk_size=3)])
    slow = loop_gradients(model, tokens, labels, names, input_transform=to_tensor)
    assert fast.shape == slow.shape == (4, sum(dict(model.named_parameters())[n].numel() for n in names))
    assert np.allclose(fast, slow, atol=1e-5, rtol=1e-4)
    assert np.abs(fast).max() > 1e-4


def test_padding_does_not_change_a_texts_features(tiny_encoder):
    model, tokens = _model(tiny_encoder)
    with torch.no_grad():
        together = model.features(torch.as_tensor(tokens))
        alone = model.features(torch.as_tensor(tokens[3:4]))
    assert torch.allclose(together[3], alone[0], atol=1e-5)


def test_text_lora_runs_end_to_end_with_lora_gradients(tiny_encoder, text_manifest, tmp_path):
    config = text_config(
        text_manifest,
        train=TrainConfig(model="text_lora", epochs=2, patience=1, min_steps=0, batch_size=16, lora_rank=2),
        gradients=GradientConfig(mode="in_sample", layers="all"),
        baselines=BaselineConfig(enabled=False),
        data=DataConfig(dataset=str(text_manifest), encoder=str(tiny_encoder)),
    )
    run = analyze(config, tmp_path / "lora")
    manifest = run.read_manifest()
    assert manifest["model"]["name"] == "text_lora" and "LoRA rank 2" in manifest["model"]["weights"]
    assert manifest["gradients"]["width"] > 3 * 17  # LoRA parameters, not only the head
    samples = run.read_samples()
    assert samples[schema.TEXT].notna().all() and np.isfinite(samples[schema.score_column("l2")]).all()
    assert run.read_npy(schema.FEATURES).shape == (len(samples), 16)
    retrained = read_results(run)
    assert len(retrained) and retrained.test_accuracy.between(0, 1).all()
    from core.pipeline.retrain import retrain

    full = retrain(run, "l2", 0.05, mode="full", seed=1)  # the LoRA model trained again on the kept texts
    assert 0 <= full["test_accuracy"] <= 1 and full["n_removed"] == round(0.05 * len(samples))
