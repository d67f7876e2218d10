"""Text generation for the paper's Table 3: DataInf's benchmarks, a small causal LM with LoRA, the protocol.

- `benchmarks`: the three generated benchmarks (pure Python and NumPy).
- `lm`: tokenizer, tiny GPT-2 or a local Hugging Face model, LoRA fine-tuning, per-sample
  LoRA gradients (needs the ``[text]`` extra: transformers, peft).
- `table3`: the protocol, its summary next to the paper's numbers, and the heat map.
"""
