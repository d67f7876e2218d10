"""9. Scale: a 1,000,000-row outputs file (D = 512, C = 10, float32) end to end (`gradsift bench --only scale`).

`gradsift analyze --dataset outputs.npz` with every default (baselines, the 2-D map and probe
retraining included) in a fresh process (on `child_threads` when set). --quick measures the targets on
section 8's outputs run instead (`scale_from_own_outputs`: 12,000 × 256, one thread, no render), where
the two bounds only check that the path runs. Targets: wall ≤ 600 s and the process's peak resident
memory ≤ 6 GB (from the run's own per-stage `peak_rss_mb`, which counts memory-mapped pages too).
Per-stage seconds and peak RSS are reported for information, so the dominating stages are
named; then (with `scale_render`; not in --quick) the dashboard's pages are rendered once each on the run
(streamlit's AppTest, cold caches) and the gradient map's JSON size is reported: what a browser downloads for it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from core.bench.common import FULL, Log, Record, Sizes, info, target
from core.bench.end_to_end import _env, _wall, cli_command, thread_env, threads_note
from core.bench.own_data import ANALYZE_FACTS, make_outputs


def dashboard_timings(run_path: Path) -> dict:
    """{"renders": {page: seconds}, "map_mb": float} from `dashboard.render_timing` in a child process, so
    the engine never imports streamlit or the dashboard."""
    import subprocess
    import sys

    code = ("import json, sys; from pathlib import Path; from dashboard.render_timing import first_renders, "
            "map_json_megabytes; run = Path(sys.argv[1]); "
            "print(json.dumps({'renders': first_renders(run), 'map_mb': map_json_megabytes(run)}))")
    done = subprocess.run([sys.executable, "-c", code, str(run_path)], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        raise RuntimeError(f"dashboard timing failed on {run_path}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stage_records(out: Path, wall: float, what: str, log: Log) -> list[Record]:
    """The two targets and each stage's seconds of the analyzed run `out` (`what`: its size, for the notes)."""
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    peak_mb = max(stage["peak_rss_mb"] for stage in stages.values())
    log(f"    analyze {wall:.0f} s, peak RSS {peak_mb / 1024:.2f} GB; per stage: " + ", ".join(
        f"{name} {stage['seconds']:.0f} s ({stage['peak_rss_mb'] / 1024:.1f} GB)" for name, stage in stages.items()))
    records = [target("scale_analyze_seconds", wall, "s", "<= 600", f"{what}, every default, fresh process"),
               target("scale_peak_rss_gb", peak_mb / 1024, "GB", "<= 6", f"analyze process, ru_maxrss; {what}")]
    return records + [info(f"scale_stage_{name}_seconds", stage["seconds"], "s") for name, stage in stages.items()]


def run(sizes: Sizes, log: Log, run_dir: Path | None = None) -> list[Record]:
    """run_dir: own_data's kept outputs run, measured instead of a new analysis when `scale_from_own_outputs`."""
    if sizes.scale_from_own_outputs and run_dir is not None:
        facts = json.loads((Path(run_dir).parent / ANALYZE_FACTS).read_text())
        what = (f"{facts['rows']:,} x {facts['dim']} outputs (section 8's run, --quick; the full bench: "
                f"{FULL.scale_n:,} x {FULL.scale_dim})" + threads_note(facts["threads"]))
        log(f"[9] scale: {what}")
        return stage_records(Path(run_dir), facts["wall_seconds"], what, log)
    log(f"[9] scale: a {sizes.scale_n:,} x {sizes.scale_dim} outputs file, every default")
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        outputs = tmp / "outputs.npz"
        started = time.perf_counter()
        make_outputs(outputs, sizes.scale_n + sizes.scale_n // 4, sizes.scale_dim, 0)
        log(f"    wrote {outputs.stat().st_size / 1e9:.1f} GB of outputs in {time.perf_counter() - started:.0f} s")
        out = tmp / "run"
        wall = _wall([*cli_command(), "analyze", "--dataset", str(outputs), "--out", str(out)],
                     {**_env(), **thread_env(sizes.child_threads)}, log_path=tmp / "analyze.log")
        records = stage_records(out, wall, f"{sizes.scale_n:,} x {sizes.scale_dim} outputs"
                                + threads_note(sizes.child_threads), log)
        if not sizes.scale_render:
            return records
        timings = dashboard_timings(out)
        renders = timings["renders"]
        log("    dashboard first render: " + ", ".join(f"{page} {s:.1f} s" for page, s in renders.items()))
        records += [info(f"scale_render_{page}_seconds", s, "s", "first render, AppTest, cold caches")
                    for page, s in renders.items()]
        megabytes = timings["map_mb"]
        log(f"    gradient map figure: {megabytes:.1f} MB of JSON")
        records.append(info("scale_map_json_mb", megabytes, "MB", "what the browser downloads for the map"))
    return records
