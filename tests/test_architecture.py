"""The shape of the code base: no import cycles in core/, light registries and `gradsift info`, small modules."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str = "core") -> dict[str, set[str]]:
    """Module → the core modules it imports anywhere in its body (lazy imports inside functions included)."""
    modules = {_module_name(path): path for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from core.run import schema` imports the submodule core.run.schema.
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_core_lazy_imports_included():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


STAGE_PACKAGE = "core.pipeline.stages"
def stage_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where one module of core/pipeline/stages imports another."""
    def is_stage(module: str) -> bool:
        return module.startswith(f"{STAGE_PACKAGE}.")

    return {(module, target) for module, targets in graph.items() if is_stage(module)
            for target in targets if is_stage(target)}


def test_no_stage_module_imports_another():
    """Stages share code through non-stage modules (core.pipeline.fitting, core.estimate.out_of_fold, ...), so
    each stage module can change or be replaced on its own."""
    assert stage_imports(import_graph()) == set()


def test_the_stage_import_check_finds_one():
    graph = {"core.pipeline.stages.a": {"core.pipeline.stages.b", "core.pipeline.fitting"},
             "core.pipeline.stages.b": set(), "core.pipeline.runner": {"core.pipeline.stages.a"}}
    assert stage_imports(graph) == {("core.pipeline.stages.a", "core.pipeline.stages.b")}


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              cwd=ROOT).stdout.split())


def test_config_and_every_registry_import_without_torch_or_sklearn():
    loaded = _imported_after("import core.config, core.bench.registry, core.pipeline.registry, core.data.registry")
    assert not loaded & {"torch", "sklearn", "numpy", "umap", "cleanlab"}


def test_info_runs_without_importing_torch(digits_run):
    code = (f"from typer.testing import CliRunner\nfrom core.cli.main import app\n"
            f"result = CliRunner().invoke(app, ['info', {str(digits_run.path)!r}])\n"
            f"assert result.exit_code == 0, result.output")
    assert "torch" not in _imported_after(code)


def test_no_module_over_the_size_limit():
    too_long = {str(path.relative_to(ROOT)): count for package in ("core", "dashboard")
                for path in (ROOT / package).rglob("*.py")
                if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}


def test_the_engine_never_imports_the_ui():
    """core/ is the offline engine: no module of it imports streamlit or dashboard, lazily or not."""
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in (ROOT / "core").rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.match(r"\s*(from|import)\s+(streamlit|dashboard)\b", line)]
    assert offenders == []
