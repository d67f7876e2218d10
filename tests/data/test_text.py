"""Text datasets: manifests with a `text` column, the packaged encoder and any local one, truncation, the
embedding cache, fingerprints, and every bad-input path (one line naming the file and what was expected)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import DataConfig, RunConfig
from core.data.base import TEXT
from core.data.embedding_cache import cache_path
from core.data.load import load_dataset
from core.errors import ConfigError, DataError
from core.models.encoder import (
    TextEncoder,
    encoder_info,
    pool,
    resolve_encoder_dir,
)
from tests.conftest import INJECTION_TEXT


@pytest.fixture(scope="module")
def text_data(text_manifest):
    return load_dataset(DataConfig(dataset=str(text_manifest)), 0)


def test_a_text_manifest_is_embedded_and_keeps_its_texts(text_manifest, text_data):
    table = pd.read_csv(text_manifest)
    assert text_data.kind == TEXT and text_data.default_model == "text_probe"
    train = table[table.split == "train"]
    assert text_data.texts_train == train.text.tolist()
    assert text_data.texts_test == table[table.split == "test"].text.tolist()
    assert text_data.x_train.dtype == np.float32 and text_data.x_train.shape == (len(train), 384)
    assert np.allclose(np.linalg.norm(text_data.x_train, axis=1), 1, atol=1e-5)  # all-MiniLM-L6-v2 normalizes
    assert text_data.true_train is not None and (text_data.true_train != text_data.given_train).sum() > 0
    assert text_data.encoder["name"] == "all-MiniLM-L6-v2" and text_data.encoder["max_length"] == 256
    assert text_data.encoder["n_truncated"] == 1  # the long injection text
    assert any("1 text(s) longer than 256 tokens truncated" in note for note in text_data.notes)


def test_texts_that_look_like_missing_values_or_numbers_stay_texts(tmp_path):
    path = tmp_path / "odd.csv"
    texts = ["NA", "42", "None", "nan", "  padded  ", "a normal request"] * 2
    pd.DataFrame({"text": texts, "label": ["a", "b"] * 6}).to_csv(path, index=False)
    data = load_dataset(DataConfig(dataset=str(path), test_fraction=0.25), 0)
    assert sorted(data.texts_train + data.texts_test) == sorted(texts)


@pytest.mark.parametrize("cells, message", [
    (["fine", "", "also fine", "ok"], "empty texts, in rows 1"),
    (["fine", "   ", "also fine", "ok"], "empty texts, in rows 1"),
])
def test_empty_texts_are_refused_naming_the_rows(tmp_path, cells, message):
    path = tmp_path / "empty.csv"
    pd.DataFrame({"text": cells, "label": ["a", "b", "a", "b"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as raised:
        load_dataset(DataConfig(dataset=str(path)), 0)
    assert str(path) in str(raised.value) and "'text'" in str(raised.value)


@pytest.mark.parametrize("cells, message", [
    ([1, 2, 3, 4], r"must hold text; rows 0, 1, 2, 3 hold non-string values \(row 0: 1\)"),
    (["fine", None, None, "ok"], r"has 2 missing texts, in rows 1, 2"),
])
def test_non_string_cells_are_refused_naming_the_rows(tmp_path, cells, message):
    path = tmp_path / "mixed.parquet"
    pd.DataFrame({"text": cells, "label": ["a", "b"] * 2}).to_parquet(path)
    with pytest.raises(DataError, match=message):
        load_dataset(DataConfig(dataset=str(path)), 0)


def test_a_manifest_with_both_paths_and_texts_is_refused(tmp_path):
    path = tmp_path / "both.csv"
    pd.DataFrame({"text": ["x", "y"], "path": ["a.png", "b.png"], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="both a 'path' and a 'text' column"):
        load_dataset(DataConfig(dataset=str(path)), 0)


def test_a_missing_encoder_folder_is_one_clear_line(tmp_path, text_manifest):
    with pytest.raises(ConfigError, match=r"--encoder .*no-such-folder: no such folder"):
        load_dataset(DataConfig(dataset=str(text_manifest), encoder=str(tmp_path / "no-such-folder")), 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json there"):
        resolve_encoder_dir(tmp_path / "empty")
    with pytest.raises(ConfigError, match="no such folder"):
        RunConfig(data=DataConfig(encoder=str(tmp_path / "gone"))).fingerprint()


def test_the_packaged_encoder_mean_pools_over_real_tokens():
    encoder = TextEncoder(encoder_info(None))
    texts = ["book a table for two", "hi, cancel my flight to Oslo on Friday please"]
    batch = encoder.tokenize(texts)
    with torch.no_grad():
        hidden = encoder.model(**batch).last_hidden_state
    by_hand = [hidden[i, batch["attention_mask"][i].bool()].mean(0) for i in range(2)]
    by_hand = torch.nn.functional.normalize(torch.stack(by_hand), dim=1).numpy()
    assert np.allclose(encoder.embed(texts), by_hand, atol=1e-5)
    alone = encoder.embed(texts[:1])  # padding in a batch does not change an embedding
    assert np.allclose(alone[0], by_hand[0], atol=1e-5)
    assert torch.allclose(
        pool(hidden, batch["attention_mask"], False)[0],
        hidden[0, : batch["attention_mask"][0].sum()].mean(0),
        atol=1e-6,
    )


def test_any_local_encoder_folder_works_and_its_hash_enters_the_fingerprints(tiny_encoder, text_manifest, text_data):
    cfg = DataConfig(dataset=str(text_manifest), encoder=str(tiny_encoder))
    data = load_dataset(cfg, 0)
    assert data.x_train.shape == (len(text_data.x_train), 16)
    assert data.encoder["max_length"] == 64 and not data.encoder["normalize"]  # position embeddings bound it
    assert data.encoder["n_truncated"] >= 1 and data.encoder["path"] == str(tiny_encoder.resolve())
    assert data.fingerprint() != text_data.fingerprint()
    linked = tiny_encoder.parent / "linked-encoder"
    linked.symlink_to(tiny_encoder, target_is_directory=True)
    assert RunConfig(data=cfg).fingerprint() == RunConfig(data=DataConfig(dataset=str(text_manifest),
                                                                          encoder=str(linked))).fingerprint()
    assert RunConfig(data=cfg).fingerprint() != RunConfig(data=DataConfig(dataset=str(text_manifest))).fingerprint()


def test_texts_are_truncated_at_the_configured_length(text_manifest, text_data):
    short = load_dataset(DataConfig(dataset=str(text_manifest), text_max_length=8), 0)
    assert short.encoder["max_length"] == 8 and short.encoder["n_truncated"] > text_data.encoder["n_truncated"]
    assert not np.allclose(short.x_train, text_data.x_train)
    assert short.fingerprint() != text_data.fingerprint()
    capped = encoder_info(None, 10_000)
    assert capped.max_length == 256  # never above the encoder's own maximum
    with pytest.raises(ConfigError, match="text_max_length"):
        DataConfig(text_max_length=1)


def test_embeddings_are_cached_by_encoder_and_texts_in_any_order(text_manifest, text_data):
    again = load_dataset(DataConfig(dataset=str(text_manifest)), 0)
    assert again.encoder["from_cache"] and np.array_equal(again.x_train, text_data.x_train)
    assert again.fingerprint() == text_data.fingerprint()
    info = encoder_info(None)
    texts = sorted(set(text_data.texts_train + text_data.texts_test))
    path = cache_path(info, texts)
    assert path.is_file()
    path.write_bytes(b"not an npz")  # a damaged cache file is recomputed, never trusted
    rebuilt = load_dataset(DataConfig(dataset=str(text_manifest)), 0)
    assert not rebuilt.encoder["from_cache"] and np.allclose(rebuilt.x_train, text_data.x_train, atol=1e-5)
    assert os.path.getsize(path) > 1000


def test_intents_dataset_is_registered_and_generated_the_same_way_every_time():
    from core.data.intents import INTENTS, generate_intents

    first, labels, names = generate_intents(64, seed=5)
    assert (first, labels.tolist()) == (generate_intents(64, seed=5)[0], generate_intents(64, seed=5)[1].tolist())
    assert names == list(INTENTS) and np.bincount(labels).tolist() == [8] * 8
    assert first != generate_intents(64, seed=6)[0]
    assert INJECTION_TEXT not in first
