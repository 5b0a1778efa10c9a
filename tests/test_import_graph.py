"""The project's import graph, read from the source with `ast` (nothing is imported):

- within one app, modules import one way: no circle, counting the imports inside
  functions too (a lazy import hides a circle from Python, not from the design);
- no module uses another module's private name (`from x import _y`, `x._y`);
- `directory` never imports `m365bridge` (bridges subscribe to the directory, not the
  other way round) nor `workers` (it queues tasks by name), and `graphsim` and the
  Stratus apps import nothing of each other.
"""

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMED_APPS = ("directory", "m365bridge", "audit", "workers", "config", "graphsim")
SIMULATOR = "graphsim"


def _discovered_apps() -> tuple[str, ...]:
    """The named apps and any other top-level package that is a Django app."""
    found = {path.parent.name for path in ROOT.glob("*/apps.py")}
    return tuple(sorted(set(NAMED_APPS) | found))


APPS = _discovered_apps()
STRATUS_APPS = tuple(app for app in APPS if app != SIMULATOR)


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module of the project
    line: int


@dataclass(frozen=True)
class PrivateUse:
    user: str
    owner: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"{self.user}:{self.line} uses {self.owner}.{self.name}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of every app, by dotted name. Migrations are generated and left out."""
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.relative_to(ROOT).parts:
                modules[_module_name(path)] = path
    return modules


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_of(module: str) -> str:
    """The package a relative import in `module` starts from."""
    if _modules()[module].name == "__init__.py":
        return module
    return module.rpartition(".")[0]


def _source_of(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _ModuleReader(ast.NodeVisitor):
    """The project modules one module imports, and the private names it reaches into."""

    def __init__(self, module: str):
        self.module = module
        self.imports: list[Import] = []
        self.private: list[PrivateUse] = []
        self.bound: dict[str, str] = {}  # local name -> the project module it is

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in _modules():
                self._imports(alias.name, node.lineno)
                if alias.asname:
                    self.bound[alias.asname] = alias.name
            root = alias.name.split(".")[0]
            if not alias.asname and root in _modules():
                self.bound[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _source_of(self.module, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in _modules():
                self._imports(submodule, node.lineno)
                self.bound[alias.asname or alias.name] = submodule
            elif source in _modules():
                self._imports(source, node.lineno)
                if _is_private(alias.name) and source != self.module:
                    self.private.append(PrivateUse(self.module, source, alias.name, node.lineno))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self._module_of(node.value)
        if owner and owner != self.module and _is_private(node.attr):
            self.private.append(PrivateUse(self.module, owner, node.attr, node.lineno))

    def _module_of(self, node: ast.expr) -> str | None:
        """The project module an expression such as `hooks` or `m365bridge.sync.apply` is."""
        if isinstance(node, ast.Name):
            return self.bound.get(node.id)
        if isinstance(node, ast.Attribute):
            parent = self._module_of(node.value)
            dotted = f"{parent}.{node.attr}" if parent else None
            return dotted if dotted in _modules() else None
        return None

    def _imports(self, target: str, line: int) -> None:
        if target != self.module:
            self.imports.append(Import(self.module, target, line))


@cache
def _read(module: str) -> _ModuleReader:
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    reader = _ModuleReader(module)
    # Imports first, wherever they are, so attribute uses anywhere see every binding.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            reader.visit(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            reader.visit_Attribute(node)
    return reader


def _app_of(module: str) -> str:
    return module.split(".")[0]


def _app_modules(app: str) -> list[str]:
    return sorted(module for module in _modules() if _app_of(module) == app)


def _edges_within(app: str) -> dict[str, list[Import]]:
    """Imports from one module of the app to another. A submodule importing from its
    own package's `__init__` counts: if that `__init__` imports it back, it is a circle
    that works only by the order of the lines."""
    edges: dict[str, list[Import]] = {module: [] for module in _app_modules(app)}
    for module in edges:
        for found in _read(module).imports:
            if _app_of(found.target) == app:
                edges[module].append(found)
    return edges


def _circles(edges: dict[str, list[Import]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm,
    iterative so a deep package cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, pending = work[-1]
            step = next(pending, None)
            if step is not None:
                target = step.target
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _describe(group: list[str], edges: dict[str, list[Import]]) -> str:
    members = set(group)
    lines = [
        f"    {found.importer}:{found.line} imports {found.target}"
        for module in group
        for found in edges[module]
        if found.target in members
    ]
    return f"  circle between {', '.join(group)}:\n" + "\n".join(sorted(set(lines)))


def _problems_of(app: str) -> list[str]:
    edges = _edges_within(app)
    problems = [_describe(group, edges) for group in _circles(edges)]
    problems += [
        f"  private name: {use}" for module in _app_modules(app) for use in _read(module).private
    ]
    return problems


@pytest.mark.parametrize("app", APPS)
def test_an_apps_modules_import_one_way_and_keep_private_names_private(app):
    problems = _problems_of(app)
    if problems:
        pytest.fail(f"{app}:\n" + "\n".join(problems), pytrace=False)


def _imports_between(importers: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{found.importer}:{found.line} imports {found.target}"
        for app in importers
        for module in _app_modules(app)
        for found in _read(module).imports
        if _app_of(found.target) in targets
    )


def test_the_directory_never_imports_a_bridge():
    assert not _imports_between(("directory",), ("m365bridge",))


def test_the_directory_queues_tasks_by_name_and_never_imports_workers():
    assert not _imports_between(("directory",), ("workers",))


def test_graphsim_and_stratus_import_nothing_of_each_other():
    assert not _imports_between((SIMULATOR,), STRATUS_APPS)
    assert not _imports_between(STRATUS_APPS, (SIMULATOR,))


# --- the checker itself, on small made-up graphs ---------------------------------------


def _graph(*pairs: str) -> dict[str, list[Import]]:
    edges: dict[str, list[Import]] = {}
    for pair in pairs:
        importer, target = pair.split(">")
        edges.setdefault(importer, []).append(Import(importer, target, 1))
        edges.setdefault(target, [])
    return edges


def test_the_checker_finds_a_circle_and_names_its_modules():
    edges = _graph("a.x>a.y", "a.y>a.z", "a.z>a.x", "a.z>a.w")
    assert _circles(edges) == [["a.x", "a.y", "a.z"]]
    assert "a.z:1 imports a.x" in _describe(["a.x", "a.y", "a.z"], edges)
    assert _circles(_graph("a.x>a.y", "a.y>a.z")) == []


def test_the_checker_sees_lazy_imports_and_private_names(tmp_path, monkeypatch):
    package = tmp_path / "demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from . import two\n\ndef f():\n    return two._hidden\n")
    (package / "two.py").write_text("def g():\n    from demo.one import _secret\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.APPS", ("demo",))
    _modules.cache_clear()
    _read.cache_clear()
    try:
        problems = "\n".join(_problems_of("demo"))
    finally:
        _modules.cache_clear()
        _read.cache_clear()
    assert "circle between demo.one, demo.two" in problems
    assert "demo.two:2 imports demo.one" in problems  # inside a function, still counted
    assert "demo.one:4 uses demo.two._hidden" in problems
    assert "demo.two:2 uses demo.one._secret" in problems
