"""The registry of `gradsift bench` sections, in run order (light: nothing here imports torch).

Target: `run(sizes, log, **shared) -> list[Record]` (one module per section in core.bench).
Meta `keeps_run`: the section is called with `keep_run` (a directory of its own) and returns (records, the
run directory it kept there, or None); `uses_run`: the name of the section whose kept run it reads (passed
as `run_dir`, None when that section did not run); `part_of`: a part run with that section (`--only` names the
section, not the part); `second_core`: no target of the section is a time measured beside other work (its
targets are precision or quality figures, its times information), so with `Sizes.second_core` (--quick) it runs
in a background process on the machine's second core while the timed sections run (core.bench.run).
"""

from core.registry import Registry

BENCH_SECTIONS = Registry("benchmark section")
BENCH_SECTIONS.add("gradients", "closed form vs torch.func vs batch-1 loop; stage vs forward; norms",
                   "core.bench.gradient_stage:run")
BENCH_SECTIONS.add("memory", "peak RSS of a CIFAR-100-shaped analysis in a child process", "core.bench.memory:run",
                   second_core=True)
BENCH_SECTIONS.add("influence", "OGA vs LiSSA, DataInf, tracing, self-LiSSA, cleanlab",
                   "core.bench.detectors_vs_influence:run")
BENCH_SECTIONS.add("end_to_end", "`gradsift analyze --dataset digits` per stage; UMAP cold start; --help",
                   "core.bench.end_to_end:run", keeps_run=True, second_core=True)
BENCH_SECTIONS.add("projection", "iForest on raw vs projected gradients (reads end_to_end's run)",
                   "core.bench.projection_quality:run", uses_run="end_to_end", second_core=True)
BENCH_SECTIONS.add("retrain", "linear-probe retrain latency, before/after", "core.bench.retrain_latency:run")
BENCH_SECTIONS.add("own_data", "an image folder and an outputs file with every default: time and precision vs cleanlab",
                   "core.bench.own_data:run", keeps_run=True)
BENCH_SECTIONS.add("own_data_kfold", "the image folder analyzed with K full retrains for cleanlab: precision of the "
                   "primary vs cleanlab's normalized margin", "core.bench.own_data:run_kfold", part_of="own_data",
                   second_core=True)
BENCH_SECTIONS.add("scale", "a 1,000,000 x 512 outputs file end to end: time, peak RSS, dashboard first render "
                   "(--quick: own_data's outputs run)", "core.bench.scale:run", uses_run="own_data")
BENCH_SECTIONS.add("review_loop", "re-ranking with the reviewer's decisions vs the static ranking (truth as reviewer), "
                   "pair-flip target, symmetric figures; the estimate of the errors left; conflicting near-duplicates "
                   "(reads end_to_end's run when it is one of its own)", "core.bench.review_loop:run",
                   uses_run="end_to_end", second_core=True)
BENCH_SECTIONS.add("text", "a 400-row intent CSV with every default: time; intents: precision vs cleanlab, "
                   "bag of words vs probe", "core.bench.text:run")
