"""The layout rules of the code base, checked from the source: sizes, imports, layers.

These are the rules of ``docs/design.md`` ("Module map"): every module is under 600 lines;
imports sit at the top of a module (a function may import only an optional third-party
package); ``flow`` imports nothing of ``maskbench``; and a module imports only modules of its
own layer or of layers below it, without circles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("maskbench", "flow")
MAX_LINES = 600
#: Optional dependencies that a function may import when it needs them.
OPTIONAL_PACKAGES = {"torch_fidelity"}

#: Layers from the bottom up; a module may import modules of its layer and of the layers below.
#: Names are relative to ``maskbench`` (``flow`` is its own package, at the bottom).
LAYERS: dict[str, tuple[str, ...]] = {
    "base": (
        "flow",
        "maskbench",
        "errors",
        "rng",
        "interrupts",
        "checks",
        "compositing",
        "config",
        "slurm",
        "distributed",
        "progress",
        "parallel",
        "files",
        "locking",
        "packing",
        "store",
        "images",
        "video",
        "bins",
        "transforms",
        "augment",
        "weights",
        "provenance",
        "run_record",
    ),
    "parts": (
        "cleanup",
        "junk",
        "flow_choice",
        "extract_config",
        "video_masks",
        "extract_summary",
        "merging",
        "chunked_append",
        "synthetic",
        "testset_config",
        "manifest",
        "steering",
        "source_pool",
        "sampling",
        "splits",
        "verify_cache",
        "rendering",
        "shapes",
        "fidelity",
        "figures",
        "pairing",
        "results",
        "ssim_maps",
        "metrics",
        "inception",
        "paper",
        "table1",
        "report_plots",
        "score_pass",
        "models",
        "losses",
        "data",
        "train_config",
        "training_run",
    ),
    "pipeline": ("extract", "importing", "procedural", "testset", "inspection", "report", "score", "train"),
    "face": ("cli", "demo", "__main__"),
}


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


MODULES = _module_files()


def _imported_names(node: ast.AST) -> list[str]:
    """Names an import statement imports: modules, and ``module.attribute`` for ``from`` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        assert not node.level, "maskbench uses absolute imports only"
        return [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def _our_module(name: str) -> str | None:
    """The longest module of ours that ``name`` (module or module.attribute) names."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _top_level_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    found = set()
    for node in tree.body:
        for name in _imported_names(node):
            target = _our_module(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: _top_level_imports(module) for module in MODULES}


def _layer(module: str) -> int:
    """Position of a module's layer in :data:`LAYERS` (by its first name below ``maskbench``)."""
    parts = module.split(".")
    key = parts[0] if parts[0] == "flow" or len(parts) == 1 else parts[1]
    for position, names in enumerate(LAYERS.values()):
        if key in names:
            return position
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name} and to the module map")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_under_600_lines(module):
    lines = MODULES[module].read_text("utf-8").count("\n")
    assert lines < MAX_LINES, f"{module} has {lines} lines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_are_at_the_top(module):
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    top = set(map(id, tree.body))
    late = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            late += [name for name in names if name.split(".")[0] not in OPTIONAL_PACKAGES]
    assert not late, f"{module} imports {late} inside a function or block"


def test_the_module_map_names_every_module():
    module_map = (ROOT / "docs" / "design.md").read_text("utf-8").split("### Module map", 1)[1]
    missing = [module for module in sorted(MODULES) if f"| `{module}` |" not in module_map]
    assert not missing, f"docs/design.md's module map lacks {missing}"


def test_flow_imports_nothing_of_maskbench():
    for module, targets in GRAPH.items():
        if module.startswith("flow"):
            assert not [target for target in targets if target.startswith("maskbench")], module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downward(module):
    upward = [target for target in sorted(GRAPH[module]) if _layer(target) > _layer(module)]
    layer = list(LAYERS)[_layer(module)]
    assert not upward, f"{module} ({layer}) imports {upward} from a layer above"


def test_no_import_circles():
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
