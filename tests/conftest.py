"""Shared fixtures: small, seeded, CPU-only runs made once per session."""

import pytest
import torch

from core.config import (
    DataConfig,
    DetectConfig,
    EmbedConfig,
    FlagConfig,
    GradientConfig,
    RunConfig,
    TrainConfig,
)

torch.set_num_threads(1)


def fast_config(dataset: str = "digits", **overrides) -> RunConfig:
    """A quick but real configuration: few epochs, PCA map, in-sample gradients unless overridden."""
    sections = {
        "data": DataConfig(dataset=dataset),
        "train": TrainConfig(epochs=4, patience=2, min_steps=0),
        "gradients": GradientConfig(mode="in_sample"),
        "detect": DetectConfig(),
        "flag": FlagConfig(budget=0.05),  # a fixed budget: the tests count flags (`auto` is the default)
        "embed": EmbedConfig(method="pca"),
    }
    sections.update(overrides)
    return RunConfig(**sections)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    from core.pipeline.runner import analyze

    return analyze(fast_config(), tmp_path_factory.mktemp("runs") / "digits")


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_dir(tmp_path_factory):
    """Text embeddings are cached in one folder per test session (never ~/.cache): the encoder runs once per
    set of texts, whichever test asks first."""
    import os

    path = tmp_path_factory.mktemp("embedding-cache")
    previous = os.environ.get("GRADSIFT_CACHE_DIR")
    os.environ["GRADSIFT_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("GRADSIFT_CACHE_DIR", None)
    else:
        os.environ["GRADSIFT_CACHE_DIR"] = previous


INJECTION_TEXT = ("**bold** <script>alert('x')</script> [click](http://example.com) :red[red] $x^2$ <b>b</b> "
                  + " ".join(["and a very long tail"] * 80))
"""A text that would render as Markdown or HTML if a view forgot to escape it; long enough to be truncated."""


def write_text_manifest(path, n_classes: int = 3, per_class: int = 32, noise_every: int = 10):
    """A CSV text manifest: `per_class` generated requests of each of the first `n_classes` intents, every
    `noise_every`-th label flipped to the next class (`true_label` keeps the truth), every fifth row in the test
    split; row 0 (a training row) is INJECTION_TEXT."""
    import pandas as pd

    from core.data.intents import generate_intents

    texts, labels, names = generate_intents(8 * per_class * 2, seed=3)
    rows = [i for i in range(len(labels)) if labels[i] < n_classes]
    chosen = sorted(sum(([r for r in rows if labels[r] == c][:per_class] for c in range(n_classes)), []))
    truth = [names[labels[i]] for i in chosen]
    given = [names[(labels[i] + 1) % n_classes] if k % noise_every == 0 else names[labels[i]]
             for k, i in enumerate(chosen)]
    frame = pd.DataFrame({"text": [texts[i] for i in chosen], "label": given, "true_label": truth,
                          "split": ["test" if k % 5 == 4 else "train" for k in range(len(chosen))]})
    frame.loc[0, "text"] = INJECTION_TEXT
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def text_manifest(tmp_path_factory):
    return write_text_manifest(tmp_path_factory.mktemp("text") / "requests.csv")


def text_config(path, **overrides) -> RunConfig:
    """fast_config for a text manifest, with the influence baselines that stay fast on a 384-wide head."""
    from core.config import BaselineConfig

    overrides.setdefault("baselines", BaselineConfig(influence=("tracing", "self_datainf")))
    return fast_config(str(path), **overrides)


@pytest.fixture(scope="session")
def text_run(tmp_path_factory, text_manifest):
    from core.pipeline.runner import analyze

    return analyze(text_config(text_manifest), tmp_path_factory.mktemp("runs") / "text")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A randomly initialized 1-layer BERT (hidden size 16) saved with save_pretrained, with the packaged
    tokenizer: 'any local Hugging Face encoder folder', small enough to fine-tune in a test."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.models.encoder import default_encoder_dir

    folder = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=64)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(default_encoder_dir(), local_files_only=True).save_pretrained(folder)
    return folder
