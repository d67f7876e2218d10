"""Text benchmarks (core.data.textgen), the small LM and its per-sample gradients (core.gradients.lm), Table 3."""

import numpy as np
import pandas as pd
import pytest
import torch
import transformers  # noqa: F401  (a hard dependency: a broken install fails here, never skips)

from core.data.textgen import (
    BENCHMARKS,
    MATH_TEMPLATES,
    TRANSFORMATIONS,
    make_benchmark,
)
from core.errors import ConfigError

pytest.importorskip("peft")  # the optional `text` extra

from core.gradients.lm import per_sample_gradients
from core.models.lm import (
    LoraSettings,
    TinyLMConfig,
    add_lora,
    build_tiny_model,
    build_tokenizer,
    encode,
    sequence_losses,
)
from core.protocols.table3 import (  # noqa: E402
    PAPER_TABLE3,
    TABLE3_METHODS,
    fast_config,
    plot_influence_heatmaps,
    summarize_table3,
    table3,
)

# --------------------------------------------------------------------------- benchmarks


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmarks_have_ten_classes_of_90_train_and_10_test(name):
    bench = make_benchmark(name, seed=0)
    assert bench.n_classes == 10 and len(set(bench.class_names)) == 10
    assert np.array_equal(np.bincount(bench.train_labels), [90] * 10)
    assert np.array_equal(np.bincount(bench.test_labels), [10] * 10)
    assert np.all(np.diff(bench.train_labels) >= 0) and np.all(np.diff(bench.test_labels) >= 0)
    assert len(bench.train_texts) == 900 and len(bench.test_texts) == 100
    assert len(set(bench.train_texts)) == 900 and not set(bench.test_texts) & set(bench.train_texts)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmarks_are_seeded(name):
    first, again, other = make_benchmark(name, 3), make_benchmark(name, 3), make_benchmark(name, 4)
    assert first.train_texts == again.train_texts and first.test_texts == again.test_texts
    assert first.train_texts != other.train_texts


def test_sentence_classes_have_distinct_chatbots_and_unseen_test_sentences():
    bench = make_benchmark("sentence_transformations", seed=0)
    names = {prompt.split(" is a chatbot")[0] for prompt in bench.train_prompts}
    assert len(names) == 10
    for label in range(10):
        prompts = [p for p, y in zip(bench.train_prompts, bench.train_labels) if y == label]
        assert len({p.split(" is a chatbot")[0] for p in prompts}) == 1  # one name per transformation
    sentence = lambda prompt: prompt.rsplit("\n", 1)[1]  # noqa: E731
    assert not {sentence(p) for p in bench.test_prompts} & {sentence(p) for p in bench.train_prompts}


def test_transformations_follow_the_paper():
    expected = {
        "Reverse Order of Words": "world. real the to Welcome",
        "Capitalize Every Other Letter": "wElCoMe To ThE rEaL wOrLd.",
        "Insert Number 1 Between Every Word": "Welcome 1to 1the 1real 1world.",
        "Replace Vowels with *": "W*lc*m* t* th* r**l w*rld.",
        "Capitalize Every Word": "Welcome To The Real World.",
        "Remove All Vowels": "Wlcm t th rl wrld.",
        "Add ly To End of Each Word": "Welcomely toly thely really world.ly",
        "Repeat Each Word Twice": "Welcome Welcome to to the the real real world. world.",
    }
    for title, output in expected.items():
        assert TRANSFORMATIONS[title]("Welcome to the real world.") == output
    assert TRANSFORMATIONS["Double Every Consonant"]("to be") == "tto bbe"
    assert TRANSFORMATIONS["Remove All Consonants"]("real world.") == "ea o."


def test_math_answers_are_correct_and_reasoning_differs_only_in_the_answer_line():
    plain = make_benchmark("math_without_reasoning", seed=1)
    reasoned = make_benchmark("math_with_reasoning", seed=1)
    assert plain.train_prompts == reasoned.train_prompts
    assert len({t.name for t in MATH_TEMPLATES}) == 10
    for answer, reasoned_answer, label in zip(plain.train_answers, reasoned.train_answers, plain.train_labels):
        number = int(answer.removeprefix("Answer: "))
        assert number >= 0 and reasoned_answer.startswith("Reason: ")
        assert reasoned_answer.endswith(f"Answer: {number}")
        expression = reasoned_answer.split(" = ")[-1].split(". Answer")[0]
        assert eval(expression) == number, (MATH_TEMPLATES[label].name, reasoned_answer)  # noqa: S307


def test_unknown_benchmark_and_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="valid benchmarks"):
        make_benchmark("poetry")
    with pytest.raises(ConfigError, match="at least 1"):
        make_benchmark("math_with_reasoning", n_train_per_class=0)


# --------------------------------------------------------------------------- tokenizer, model, gradients


@pytest.fixture(scope="module")
def tiny_lora():
    bench = make_benchmark("math_with_reasoning", seed=0, n_train_per_class=2, n_test_per_class=1)
    tokenizer = build_tokenizer(bench.train_texts, vocab_size=140)
    model = build_tiny_model(tokenizer, TinyLMConfig(n_layer=1, n_embd=16, n_head=2, vocab_size=140), seed=0)
    lora = add_lora(model, LoraSettings(rank=2), seed=0)
    for name, param in lora.named_parameters():  # LoRA B starts at zero; make every gradient non-trivial
        if "lora_B" in name:
            param.data.normal_(0, 0.1)
    return bench, tokenizer, lora


def test_tokenizer_round_trips_and_is_deterministic(tiny_lora):
    bench, tokenizer, _ = tiny_lora
    text = bench.test_texts[0]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert build_tokenizer(bench.train_texts, 140).backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    batch = encode(tokenizer, ["ab", "abc d"], max_length=64)
    assert batch.attention_mask.sum(dim=1).tolist() == [3, 6]  # end-of-text appended
    assert batch.input_ids[0, 3:].eq(tokenizer.pad_token_id).all()


def test_only_lora_weights_train(tiny_lora):
    _, _, lora = tiny_lora
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)


def test_padding_does_not_change_a_text_loss(tiny_lora):
    bench, tokenizer, lora = tiny_lora
    batch = encode(tokenizer, bench.train_texts[:4], max_length=128)
    alone = encode(tokenizer, bench.train_texts[:1], max_length=128)
    lora.eval()
    with torch.no_grad():
        padded = sequence_losses(lora(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                                 batch.input_ids, batch.attention_mask)[0]
        single = sequence_losses(lora(input_ids=alone.input_ids, attention_mask=alone.attention_mask).logits,
                                 alone.input_ids, alone.attention_mask)[0]
    assert float(padded) == pytest.approx(float(single), rel=1e-5)


def test_fast_per_sample_gradients_match_the_loop_reference(tiny_lora):
    bench, tokenizer, lora = tiny_lora
    batch = encode(tokenizer, bench.train_texts[:7], max_length=128)
    reference = per_sample_gradients(lora, batch, method="loop").matrix
    assert np.abs(reference).max() > 0
    for method in ("hooks", "vmap"):
        fast = per_sample_gradients(lora, batch, method=method, chunk_size=3).matrix
        np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-6 * np.abs(reference).max())


def test_projected_gradients_use_one_projector_chunk_by_chunk(tiny_lora):
    from core.gradients.projection import SparseJLProjector

    bench, tokenizer, lora = tiny_lora
    batch = encode(tokenizer, bench.train_texts[:5], max_length=128)
    raw = per_sample_gradients(lora, batch)
    projector = SparseJLProjector(raw.raw_width, 16, seed=0)
    projected = per_sample_gradients(lora, batch, projector=projector, chunk_size=2)
    np.testing.assert_allclose(projected.matrix, projector.project(raw.matrix), rtol=1e-4, atol=1e-7)
    assert projected.block_sizes is None and sum(raw.block_sizes.values()) == raw.raw_width


# --------------------------------------------------------------------------- Table 3 end to end


@pytest.mark.slow
def test_table3_tiny_run_produces_rows_summary_and_heatmap(tmp_path):
    config = fast_config()
    result = table3(config, seeds=1)
    rows = result.rows
    assert set(rows.benchmark) == set(BENCHMARKS) and set(rows.method) == set(TABLE3_METHODS)
    assert len(rows) == 3 * len(TABLE3_METHODS) * 10 * config.n_test_per_class
    assert rows.auc.between(0, 1).all() and rows.recall.between(0, 1).all()
    summary = summarize_table3(rows)
    paper = summary.set_index(["benchmark", "method"])
    assert paper.loc[("math_without_reasoning", "tracing"), "paper_auc_mean"] == 0.724
    assert paper.loc[("math_with_reasoning", "oga_class"), "paper_recall_mean"] == 1.0
    assert np.isnan(paper.loc[("sentence_transformations", "oga_sample"), "paper_auc_mean"])
    run = result.runs[0]
    assert run.matrices["oga_class"].shape == (10 * config.n_test_per_class, 10 * config.n_train_per_class)
    plot_influence_heatmaps(result.runs, tmp_path / "heat.png")
    assert (tmp_path / "heat.png").stat().st_size > 10_000
    assert set(PAPER_TABLE3) == set(BENCHMARKS)


def test_table3_command_writes_outputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from core.cli.main import app
    from core.protocols import table3 as table3_module

    small = fast_config()
    monkeypatch.setattr(table3_module, "Table3Config", lambda: small)
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "table3",
            "--out",
            str(tmp_path),
            "--benchmark",
            "math_without_reasoning",
            "--train-per-class",
            "4",
            "--test-per-class",
            "1",
            "--epochs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "0.724" in result.output and "oga_class" in result.output
    for name in ("table3.csv", "table3_rows.csv", "table3_heatmap.png", "table3_facts.json"):
        assert (tmp_path / name).exists()
    assert len(pd.read_csv(tmp_path / "table3_rows.csv")) == len(TABLE3_METHODS) * 10
    bad = CliRunner().invoke(app, ["reproduce", "table3", "--out", str(tmp_path), "--benchmark", "poetry"])
    assert bad.exit_code == 2 and "valid benchmarks" in bad.output


def test_model_path_loads_a_local_model(tmp_path):
    bench = make_benchmark("sentence_transformations", seed=0, n_train_per_class=3, n_test_per_class=1)
    tokenizer = build_tokenizer(bench.train_texts, vocab_size=140)
    model = build_tiny_model(tokenizer, TinyLMConfig(n_layer=1, n_embd=16, n_head=2, vocab_size=140), seed=0)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    config = fast_config(model_path=str(tmp_path / "tiny"), benchmarks=("sentence_transformations",),
                         n_train_per_class=3, n_test_per_class=1)
    result = table3(config, seeds=1)
    assert result.facts["seeds"][0]["model"] == str(tmp_path / "tiny")
    assert result.facts["seeds"][0]["pretrain_losses"] == []
    assert len(result.rows) == len(TABLE3_METHODS) * 10
    with pytest.raises(ConfigError, match="no config.json"):
        table3(fast_config(model_path=str(tmp_path / "missing")), seeds=1)
