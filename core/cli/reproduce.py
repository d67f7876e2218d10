"""`gradsift reproduce ...`: the paper's experiments (Table 1, Fig. 5, Table 2, Table 3).

Thin: options → the protocol in core.protocols → CSV, PNG and printed tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli.app import (
    DEFAULT_RUNS_DIR,
    ConsoleReporter,
    console,
    friendly,
    out,
    print_table,
    reproduce_app,
    state,
)
from core.cli.app import table as results_table
from core.cli.runs import print_budget_table


def _pm(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {0 if std != std else std:.1f}"


@reproduce_app.command("table1")
@friendly
def reproduce_table1(
    seeds: Annotated[int, typer.Option(help="Seeds (data, noise, training) to average over.")] = 3,
    out_dir: Annotated[Path, typer.Option("--out", help="Where runs, CSV and plot go.")] = DEFAULT_RUNS_DIR / "reproduce" / "table1",
) -> None:
    """Both synthetic setups, all 12 methods, mean ± std over seeds, next to the paper's numbers."""
    from core.protocols.paper import plot_table1, summarize_table1, table1

    results = table1(out_dir, seeds=seeds, reporter=ConsoleReporter() if state["debug"] else None)
    summary = summarize_table1(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    results.to_csv(out_dir / "table1_runs.csv", index=False)
    summary.to_csv(out_dir / "table1.csv", index=False)
    plot_table1(summary, out_dir / "table1.png")
    for setup, part in summary.groupby("setup", sort=False):
        title = (f"{setup} (base test accuracy {_pm(part.base_test_accuracy_mean.iloc[0], part.base_test_accuracy_std.iloc[0])}"
                 + (f"; paper {part.paper_base_test_accuracy.iloc[0]:.1f}" if part.paper_base_test_accuracy.notna().any() else "") + ")")
        columns = ["method", "detection acc. %", "paper", "test acc. % after trimming", "paper ",
                   "change [95% CI]", "AUROC"]
        table = results_table(title, columns, right=tuple(columns[1:]))
        for row in part.itertuples():
            change = f"{row.delta_mean:+.1f}" + ("" if row.delta_low != row.delta_low else
                                                 f" [{row.delta_low:+.1f}, {row.delta_high:+.1f}]")
            table.add_row(row.method, _pm(row.detection_accuracy_mean, row.detection_accuracy_std),
                          _fmt_paper(row.paper_detection_accuracy),
                          _pm(row.test_accuracy_mean, row.test_accuracy_std), _fmt_paper(row.paper_test_accuracy),
                          change, f"{row.auroc_mean:.3f}")
        print_table(table)
    out.print(f"wrote {out_dir / 'table1.csv'}, {out_dir / 'table1_runs.csv'} and {out_dir / 'table1.png'}")


def _fmt_paper(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


@reproduce_app.command("budget-curve")
@friendly
def reproduce_budget_curve(
    run_dir: Annotated[Optional[Path], typer.Option("--run", help="An analyzed run (default: analyze digits).")] = None,
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="Detector(s); default iforest, l1, l2.")] = None,
    mode: Annotated[str, typer.Option(help="full (retrain the model) or probe (last layer only).")] = "full",
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per budget (default: 5 probe, 3 full).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where CSV and plot go.")] = DEFAULT_RUNS_DIR / "reproduce" / "budget-curve",
) -> None:
    """Test accuracy vs budget k from 0 to 12.5% in 2.5% steps (the paper's Fig. 5)."""
    from core.config import RunConfig
    from core.pipeline.runner import analyze as run_analysis
    from core.protocols.paper import budget_curve, plot_budget_curve

    if run_dir is None:
        run_dir = run_analysis(RunConfig(), DEFAULT_RUNS_DIR / "digits", reporter=ConsoleReporter()).path
    curve = budget_curve(run_dir, tuple(detector or ("iforest", "l1", "l2")), mode=mode, seeds=seeds,
                         reporter=ConsoleReporter())
    out_dir.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out_dir / "budget_curve.csv", index=False)
    plot_budget_curve(curve, out_dir / "budget_curve.png", f"{run_dir} ({mode} retraining)")
    print_budget_table(curve)
    out.print(f"wrote {out_dir / 'budget_curve.csv'} and {out_dir / 'budget_curve.png'}")


@reproduce_app.command("cifar-n")
@friendly
def reproduce_cifar_n(
    data_dir: Annotated[Path, typer.Option(help="Directory with cifar-10-batches-py/ (or cifar-100-python/) and the CIFAR-N .pt file.")],
    noise: Annotated[str, typer.Option(help="aggregate, random1, random2, random3, worst, or noisy100 (CIFAR-100N).")] = "worst",
    epochs: Annotated[int, typer.Option(help="Training epochs (the paper: 100; needs a GPU).")] = 100,
    model: Annotated[str, typer.Option(help="resnet34 (the paper) or any image model.")] = "resnet34",
    seeds: Annotated[int, typer.Option(help="Runs to average (the paper: 5).")] = 1,
    batch_size: Annotated[int, typer.Option(help="Batch size (the paper: 128).")] = 128,
    out_dir: Annotated[Path, typer.Option("--out", help="Where runs and CSV go.")] = DEFAULT_RUNS_DIR / "reproduce" / "cifar-n",
) -> None:
    """Table 2's protocol: ResNet-34, SGD 0.1/0.9/5e-4, batch 128, prune k = 5% and retrain."""
    from core.protocols.paper import PAPER_TABLE2, cifar_n

    results = cifar_n(out_dir, str(data_dir), noise, epochs, model, seeds, batch_size, reporter=ConsoleReporter())
    out_dir.mkdir(parents=True, exist_ok=True)
    results.to_csv(out_dir / f"cifar_n_{noise}.csv", index=False)
    summary = results.groupby("method", sort=False).test_accuracy.agg(["mean", "std"])
    paper = PAPER_TABLE2.get(noise)
    table = results_table(f"CIFAR-N {noise}, {model}, {epochs} epochs, {seeds} seed(s)",
                          ["method", "test accuracy %", "paper"], right=("test accuracy %", "paper"))
    paper_values = {"no trimming": paper[1], "iforest": paper[2]} if paper else {}
    for method, row in summary.iterrows():
        best = paper[3] if paper and method in ("l1", "l2") and paper[3].endswith(f"({method.upper()})") else None
        table.add_row(method, _pm(row["mean"], row["std"]),
                      best.split()[0] if best else _fmt_paper(paper_values.get(method, float("nan")), 2))
    print_table(table)


def _pm3(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {0.0 if std != std else std:.3f}"


def _paper(mean: float, std: float) -> str:
    return "-" if mean != mean else _pm3(mean, std)


@reproduce_app.command("table3")
@friendly
def reproduce_table3(
    seeds: Annotated[int, typer.Option(help="Seeds (data, model, LoRA, forests) to pool over.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Where CSVs, the heat map and facts go.")] = DEFAULT_RUNS_DIR / "reproduce" / "table3",
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
    result = table3(config, seeds=seeds, progress=lambda text: console.print(f"      {text}", highlight=False))
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
    out.print(f"Table 3: class detection with {model_name}, {seeds} seed(s), mean ± std over test prompts; "
               f"{result.facts['seconds']:.0f} s", highlight=False)
    for name, part in summary.groupby("benchmark", sort=False):
        table = results_table(f"{name} ({int(part.n_test.iloc[0])} test prompts)",
                              ["method", "AUC", "paper", "recall", "paper "], right=("AUC", "paper", "recall", "paper "))
        for row in part.itertuples():
            table.add_row(row.method, _pm3(row.auc_mean, row.auc_std), _paper(row.paper_auc_mean, row.paper_auc_std),
                          _pm3(row.recall_mean, row.recall_std),
                          _paper(row.paper_recall_mean, row.paper_recall_std))
        print_table(table)
    out.print("paper: Llama-2-13B-chat; its one OGA row is the reference per-class forests, our oga_class "
               "(oga_sample: isolation similarity per training sample; see docs/attribution.md)", highlight=False)
    out.print(f"wrote {out_dir / 'table3.csv'}, {out_dir / 'table3_rows.csv'}, {out_dir / 'table3_heatmap.png'} "
               f"and {out_dir / 'table3_facts.json'}", highlight=False)


@reproduce_app.command("data-selection")
@friendly
def reproduce_data_selection(
    task: Annotated[str, typer.Option(help="GLUE task: sst2, qnli, qqp or mrpc (with --manifest: a name for it).")],
    data_dir: Annotated[Optional[Path], typer.Option(
        help="Folder with the GLUE files: <dir>/SST-2/train.tsv and dev.tsv (QNLI/, QQP/, MRPC/), or train.tsv "
             "and dev.tsv directly; dev.tsv is the test split.")] = None,
    manifest: Annotated[Optional[Path], typer.Option(
        help="Any text manifest (.csv/.parquet: text, label, optional split) instead of GLUE files.")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds (flips, split, model) to average over.")] = 3,
    flip_rate: Annotated[float, typer.Option(help="Share of training labels flipped (the paper: 0.2).")] = 0.2,
    keep: Annotated[float, typer.Option(help="Share of the training samples kept by each method (the paper: 0.7).")] = 0.7,
    model: Annotated[str, typer.Option(help="text_probe (frozen encoder, default), text_lora, logreg or mlp.")] = "text_probe",
    encoder: Annotated[Optional[Path], typer.Option(help="A local Hugging Face encoder folder (default: the packaged "
                                                         "all-MiniLM-L6-v2).")] = None,
    max_train: Annotated[Optional[int], typer.Option(help="At most this many training rows (a seeded subsample); "
                                                          "default: all (full GLUE needs a GPU).")] = None,
    max_test: Annotated[Optional[int], typer.Option(help="At most this many dev rows (seeded subsample).")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", help="Method(s) to compare; repeat the option. "
                                                                          "Default: all.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where runs, CSVs and the plot go.")] = DEFAULT_RUNS_DIR / "reproduce" / "data-selection",
) -> None:
    """Figure 3: flip 20% of a text task's training labels, keep the 70% most beneficial samples by each method,
    retrain, and compare test accuracy (mean and 95% CI over seeds)."""
    from core.protocols.data_selection import (
        METHODS,
        DataSelectionConfig,
        data_selection,
        plot_summary,
        summarize,
    )

    config = DataSelectionConfig(
        task=task, data_dir=None if data_dir is None else str(data_dir),
        manifest=None if manifest is None else str(manifest), flip_rate=flip_rate, keep_fraction=keep, seeds=seeds,
        model=model, encoder=None if encoder is None else str(encoder), max_train=max_train, max_test=max_test,
        methods=tuple(method) if method else METHODS)
    if config.data_dir is not None:
        from core.data.glue import glue_files

        glue_files(config.data_dir, task)  # a missing file is one line, before any work
    rows, facts = data_selection(config, out_dir, reporter=ConsoleReporter() if state["debug"] else None,
                                 progress=lambda text: console.print(f"      {text}", highlight=False))
    summary = summarize(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out_dir / f"{task}_rows.csv", index=False)
    summary.to_csv(out_dir / f"{task}.csv", index=False)
    (out_dir / f"{task}_facts.json").write_text(json.dumps({"config": repr(config), "seeds": facts}, indent=2,
                                                            default=str))
    plot_summary(summary, out_dir / f"{task}.png", keep)
    first = facts[0]
    title = (f"{task}: {first['n_train']} training texts, {first['n_flipped']} labels flipped, keep {keep:.0%}, "
             f"{model} on {first.get('encoder') or 'the encoder'}, {seeds} seed(s)")
    columns = ["method", "test accuracy % [95% CI]", "change vs all [95% CI]", "flipped removed"]
    table = results_table(title, columns, right=tuple(columns[1:]))
    for row in summary.itertuples():
        interval = "" if row.accuracy_low != row.accuracy_low else \
            f" [{100 * row.accuracy_low:.1f}, {100 * row.accuracy_high:.1f}]"
        change = "-" if row.method == "all" else f"{100 * row.delta_mean:+.1f}" + (
            "" if row.delta_low != row.delta_low else f" [{100 * row.delta_low:+.1f}, {100 * row.delta_high:+.1f}]")
        table.add_row(row.method, f"{100 * row.accuracy_mean:.1f}{interval}", change,
                      "-" if row.method == "all" else f"{row.flipped_removed_share:.0%}")
    print_table(table)
    out.print(f"wrote {out_dir / (task + '.csv')}, {out_dir / (task + '_rows.csv')}, {out_dir / (task + '.png')} "
              f"and {out_dir / (task + '_facts.json')}", highlight=False)
