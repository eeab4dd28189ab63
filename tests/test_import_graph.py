"""The layering the design promises, read from the source: no import loops between the cloud's
subpackages, the shared contracts at the bottom, and blueprints that never import the factory.

Imports are read with `ast`, so nothing is executed and a module's imports count even where
it is never loaded. Module-level imports make the import-time graph; an import inside a
function or under `if TYPE_CHECKING` does not run when the module loads.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = ("cloud", "device", "scenarios", "teddy", "audio_fixtures")
CONTRACTS = ("teddy.contracts", "teddy.content")
# teddy/ holds two layers (see teddy/__init__.py): the top is the command line over the areas.
TEDDY_TOP = ("teddy.cli", "teddy.demo", "teddy.bench", "teddy.__main__")
AREAS = ("device", "cloud", "scenarios", "audio_fixtures")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base[:len(base) - node.level + (1 if is_package else 0)]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        # `from package import module` imports the submodule too.
        return [target, *(f"{target}.{alias.name}" for alias in node.names)]
    return []


def _imports(path: Path, module_level_only: bool) -> Iterator[str]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if module_level_only and isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            yield from _imported(child, module, is_package)
            yield from walk(child)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")))


def _sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _subpackage(name: str) -> str:
    """cloud.keys.store -> cloud.keys; cloud.app -> cloud.app."""
    return ".".join(name.split(".")[:2])


def import_time_edges(package: str) -> dict[str, set[tuple[str, str]]]:
    """subpackage -> {(imported subpackage, importing module)} within `package`."""
    edges: dict[str, set[tuple[str, str]]] = {}
    for path in _sources(package):
        source = _subpackage(_module_name(path))
        for name in _imports(path, module_level_only=True):
            if name.split(".")[0] == package and _subpackage(name) != source:
                edges.setdefault(source, set()).add((_subpackage(name), _module_name(path)))
    return edges


def cycles(edges: dict[str, set[tuple[str, str]]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    graph = {node: {target for target, _ in targets} for node, targets in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cloud_subpackages_import_each_other_without_a_loop():
    edges = import_time_edges("cloud")
    loops = cycles(edges)
    detail = [f"{source} -> {target} (in {module})" for loop in loops for source in loop
              for target, module in sorted(edges.get(source, ())) if target in loop]
    assert loops == [], "import loops between cloud subpackages:\n" + "\n".join(detail)


def test_the_cycle_finder_finds_a_planted_loop():
    # Negative control: the blueprints importing get_db from the factory, as they once did.
    edges = {"cloud.app": {("cloud.parent_web", "cloud.app")},
             "cloud.parent_web": {("cloud.app", "cloud.parent_web.auth"),
                                  ("cloud.db", "cloud.parent_web.auth")}}
    assert cycles(edges) == [["cloud.app", "cloud.parent_web"]]
    assert cycles({"cloud.app": {("cloud.db", "cloud.app")}}) == []


def test_the_shared_contracts_import_nothing_from_either_side():
    # Every import counts here, lazy ones too: the contracts are the bottom layer.
    upward = [f"{_module_name(path)} imports {name}"
              for path in _sources(*CONTRACTS)
              for name in _imports(path, module_level_only=False)
              if name.split(".")[0] in OWN and not name.startswith(CONTRACTS)]
    assert upward == []


def test_no_blueprint_imports_the_app_factory():
    offenders = [_module_name(path) for path in _sources("cloud")
                 if _module_name(path) != "cloud.app"
                 and any(name == "cloud.app" or name.startswith("cloud.app.")
                         for name in _imports(path, module_level_only=False))
                 and "create_app" not in path.read_text(encoding="utf-8")]
    assert offenders == [], "import get_db/get_clock from cloud.db instead"


def _is_in(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def layer_violations(imports: dict[str, set[str]]) -> list[str]:
    """importing module -> imported names; what breaks the teddy/ layering: the bottom of
    teddy/ importing an area or the top, or an area importing the top."""
    found = []
    for module, names in sorted(imports.items()):
        bottom = module.split(".")[0] == "teddy" and not _is_in(module, TEDDY_TOP)
        for name in sorted(names):
            if _is_in(name, TEDDY_TOP) and not _is_in(module, TEDDY_TOP):
                found.append(f"{module} imports the command line ({name})")
            elif bottom and _is_in(name, AREAS):
                found.append(f"{module} (teddy's bottom layer) imports {name}")
    return found


def test_teddys_bottom_and_the_areas_never_import_the_command_line():
    # Lazy imports count: they run as soon as the function does.
    imports = {_module_name(path): set(_imports(path, module_level_only=False))
               for path in _sources("teddy", *AREAS)}
    assert layer_violations(imports) == []


def test_negative_control_upward_imports_are_caught():
    planted = {"scenarios.cli": {"teddy.cli"}, "teddy.errors": {"cloud.config"},
               "teddy.cli": {"cloud.cli", "teddy.errors"}, "device.toy": {"teddy.contracts"}}
    assert layer_violations(planted) == [
        "scenarios.cli imports the command line (teddy.cli)",
        "teddy.errors (teddy's bottom layer) imports cloud.config"]
