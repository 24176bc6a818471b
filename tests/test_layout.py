"""The package's house rules, read from the source: one home per stage, layers, no import circle.

Every ``import`` of a sembridge module counts, wherever it is written (module level, inside a
function, under ``TYPE_CHECKING``): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sembridge"

# Lower layers never import from higher ones; a module may import from its own layer.
LAYERS: dict[str, int] = {
    # infrastructure
    "version": 0,
    "lazy": 0,
    "flags": 0,
    "errors": 0,
    "log": 0,
    "cache": 0,
    "device": 0,
    "registry": 0,
    "io": 0,
    "hub_access": 0,
    # the file formats, and model folders in and out
    "data": 1,
    "vocab": 1,
    "surgery": 1,
    "loading": 1,
    "model_card": 1,
    "tokenizer_training": 1,
    # sparse vectors
    "encoding": 2,
    # how new rows are built
    "methods": 3,
    # the stages
    "init": 4,
    "evaluation": 4,
    "export": 4,
    "training": 4,
    # the interfaces
    "cli": 5,
    "__init__": 5,
    "__main__": 5,
}
# Within the stages, these may use each other: init's --alpha auto evaluates on dev pairs, and
# mining (training) retrieves candidates with the BM25 and dense baselines.
STAGE_USES = {"init": {"evaluation"}, "evaluation": set(), "export": set(), "training": {"evaluation"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def home(module: str) -> str:
    """The top-level home of a module: ``sembridge.init.pipeline`` -> ``init``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(module: str) -> set[str]:
    """The sembridge modules ``module`` imports (a name imported from a package counts as its
    submodule when one of that name exists, else as the package)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "sembridge")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "sembridge":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {module: imported(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    assert {home(m) for m in MODULES} <= set(LAYERS), sorted({home(m) for m in MODULES} - set(LAYERS))


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    wrong = [
        f"{module} (layer {LAYERS[home(module)]}) imports {dep} (layer {LAYERS[home(dep)]})"
        for module, deps in GRAPH.items()
        for dep in sorted(deps)
        if LAYERS[home(dep)] > LAYERS[home(module)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_stages_use_each_other_only_as_declared() -> None:
    wrong = [
        f"{module} imports {dep}"
        for module, deps in GRAPH.items()
        if home(module) in STAGE_USES
        for dep in sorted(deps)
        if home(dep) in STAGE_USES and home(dep) != home(module) and home(dep) not in STAGE_USES[home(module)]
    ]
    assert not wrong, "\n".join(wrong)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph``, or None (depth-first search, colours white/grey/black)."""
    state: dict[str, int] = defaultdict(int)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state[node] == 0 and (found := visit(node)):
            return found
    return None


def test_no_import_circle_between_modules() -> None:
    # A package's __init__ re-exports its own modules: those edges are its public face, not a circle.
    graph = {
        module: {d for d in deps if not (MODULES[d].name == "__init__.py" and module.startswith(d + "."))}
        for module, deps in GRAPH.items()
    }
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("folder", ["benchmarks", "examples"])
def test_no_benchmark_or_example_imports_a_private_name(folder: str) -> None:
    private = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sembridge"):
                private += [
                    f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")
                ]
    assert not private, private


def test_the_public_api_is_complete_and_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sembridge\n"
        "assert 'torch' not in sys.modules, 'import sembridge loaded torch'\n"
        "for name in sembridge.__all__: getattr(sembridge, name)\n"
        "assert sembridge.initialize.__module__ == 'sembridge.init.pipeline'\n"
        "assert sembridge.finetune.__module__ == 'sembridge.training.trainer'\n"
        "import sembridge.export.vectors; assert callable(sembridge.export.export)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
