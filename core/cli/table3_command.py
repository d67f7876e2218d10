"""`gradsift reproduce table3`: the paper's Table 3 (influential-data identification for LLMs).

The lead registers the command on the `reproduce` sub-app in core/cli.py:

    from core.cli.table3_command import reproduce_table3
    reproduce_app.command("table3")(friendly(reproduce_table3))

Thin on purpose: options → `Table3Config` → `core.protocols.table3` → CSV, PNG and a printed
table. Heavy modules (torch, transformers, peft) are imported inside the command, so
`gradsift --help` stays instant; errors caused by input are GradsiftErrors, printed as
one line by core.cli.main's `friendly`. This module does not import core.cli.main (core.cli.main imports it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

_out = Console()
_err = Console(stderr=True, soft_wrap=True)

DEFAULT_OUT = Path("runs") / "reproduce" / "table3"


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {0.0 if std != std else std:.3f}"


def _paper(mean: float, std: float) -> str:
    return "-" if mean != mean else _pm(mean, std)


def reproduce_table3(
    seeds: Annotated[int, typer.Option(help="Seeds (data, model, LoRA, forests) to pool over.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Where CSVs, the heat map and facts go.")] = DEFAULT_OUT,
    model_path: Annotated[Optional[Path], typer.Option(
        "--model-path", help="A local Hugging Face causal-LM directory (config, weights, tokenizer) to use instead "
                             "of the tiny GPT-2; loaded with local_files_only.")] = None,
    benchmark: Annotated[Optional[list[str]], typer.Option(
        "--benchmark", help="Benchmark(s) to run; repeat the option. Default: all three.")] = None,
    train_per_class: Annotated[int, typer.Option(help="Training prompts per class (the paper: 90).")] = 90,
    test_per_class: Annotated[int, typer.Option(help="Test prompts per class (the paper: 10).")] = 10,
    epochs: Annotated[Optional[int], typer.Option(help="LoRA fine-tuning epochs (default: the recipe's).")] = None,
    pretrain_epochs: Annotated[Optional[int], typer.Option(
        help="Pretraining epochs of the tiny GPT-2 (default: the recipe's; ignored with --model-path).")] = None,
) -> None:
    """Table 3: which training prompts influenced each test prompt (OGA per-class forests vs DataInf, tracing)."""
    from dataclasses import replace

    from core.protocols.table3 import (
        Table3Config,
        plot_influence_heatmaps,
        summarize_table3,
        table3,
    )

    config = Table3Config()
    overrides: dict = {"n_train_per_class": train_per_class, "n_test_per_class": test_per_class,
                       "model_path": str(model_path) if model_path is not None else None}
    if benchmark:
        overrides["benchmarks"] = tuple(benchmark)
    if epochs is not None:
        overrides["epochs"] = epochs
    if pretrain_epochs is not None:
        overrides["pretrain_epochs"] = pretrain_epochs
    config = replace(config, **overrides)
    result = table3(config, seeds=seeds, progress=lambda text: _err.print(f"      {text}", highlight=False))
    summary = summarize_table3(result.rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.rows.to_csv(out_dir / "table3_rows.csv", index=False)
    summary.to_csv(out_dir / "table3.csv", index=False)
    plot_influence_heatmaps(result.runs, out_dir / "table3_heatmap.png")
    facts = {"config": repr(config), "seeds": seeds, "seconds": round(result.facts["seconds"], 1),
             "base_models": result.facts["seeds"],
             "benchmarks": [{"benchmark": run.benchmark.name, "seed": run.seed, **run.facts} for run in result.runs]}
    (out_dir / "table3_facts.json").write_text(json.dumps(facts, indent=2, default=str))

    model_name = result.facts["seeds"][0].get("model", "")
    _out.print(f"Table 3: class detection with {model_name}, {seeds} seed(s), mean ± std over test prompts; "
               f"{result.facts['seconds']:.0f} s", highlight=False)
    for name, part in summary.groupby("benchmark", sort=False):
        table = Table(title=f"{name} ({int(part.n_test.iloc[0])} test prompts)")
        for column in ("method", "AUC", "paper", "recall", "paper "):
            table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
        for row in part.itertuples():
            table.add_row(row.method, _pm(row.auc_mean, row.auc_std), _paper(row.paper_auc_mean, row.paper_auc_std),
                          _pm(row.recall_mean, row.recall_std),
                          _paper(row.paper_recall_mean, row.paper_recall_std))
        _out.print(table)
    _out.print("paper: Llama-2-13B-chat; its one OGA row is the reference per-class forests, our oga_class "
               "(oga_sample: isolation similarity per training sample; see docs/attribution.md)", highlight=False)
    _out.print(f"wrote {out_dir / 'table3.csv'}, {out_dir / 'table3_rows.csv'}, {out_dir / 'table3_heatmap.png'} "
               f"and {out_dir / 'table3_facts.json'}", highlight=False)
