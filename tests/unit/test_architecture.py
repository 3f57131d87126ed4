"""The shape of the code, checked on its syntax trees so that the tangles cannot come back:
- the steps, screening, scorers and generators ask the modality adapter: they never compare a
  `modality` for equality or test a container's type;
- synthgen never patches a library at run time (no unittest.mock) and never imports `flows`;
- no import cycle between synthgen's modules (imports inside functions count, and so do imports under
  `if TYPE_CHECKING:`: they never run, but a circle they close is still a tangle a reader must follow);
- no two packages of synthgen import each other (training -> validation and validation -> training
  would be two layers that each sit below the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "synthgen"
MODALITY_NEUTRAL = ["pipeline.py", "screening.py", "anomaly", "generators"]
CONTAINERS = {"LabeledImages", "LabeledTable", "ndarray", "DataFrame", "ImageInput", "TableInput"}


def _files(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        path = PACKAGE / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules imported anywhere in the file, under `if TYPE_CHECKING:` too (absolute names; `from a import
    b` also yields a.b)."""
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


@pytest.mark.parametrize("path", _files(*MODALITY_NEUTRAL), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modality_neutral_code_asks_the_adapter(path):
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot))
                                                 for op in node.ops):
            # `==` on a modality is a branch; `in self.modalities` (a scorer's declared capability) is not
            sides = [node.left, *node.comparators]
            named = [_name(s.slice) if isinstance(s, ast.Subscript) else _name(s) for s in sides]
            if "modality" in named:
                problems.append(f"line {node.lineno}: compares a modality")
        if isinstance(node, ast.Call) and _name(node.func) == "isinstance" and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            hit = {_name(k) for k in kinds} & CONTAINERS
            if hit:
                problems.append(f"line {node.lineno}: tests a container type {sorted(hit)}")
    assert not problems, f"{path.relative_to(PACKAGE)}: ask the modality adapter instead\n" + "\n".join(problems)


def test_no_run_time_patching_and_no_import_of_flows():
    problems = []
    for path in _files("."):
        for name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("unittest.mock") or name == "mock" or (name == "unittest.mock"):
                problems.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if top == "flows":
                problems.append(f"{path.relative_to(PACKAGE)} imports {name} (the library must not import flows/)")
    assert not problems, "\n".join(problems)


def _graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    modules = files or {_module(p): p for p in _files(".")}
    graph = {}
    for module, path in modules.items():
        deps = set()
        for name in _imports(path):
            # `from synthgen.x import y`: y may be a module or a name in x; keep the longest module
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    # A package's __init__ importing its own submodules (to register them) is how a registry
    # package loads; a submodule importing its package's __init__ back is what would be a cycle.
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _mutual_packages(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of synthgen packages (synthgen.<package>.*) that each import the other."""
    def package(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 2 else None   # synthgen.<package>.<module>; top-level modules are not packages
    edges = {(package(a), package(b)) for a, deps in graph.items() for b in deps
             if package(a) and package(b) and package(a) != package(b)}
    return sorted((a, b) for a, b in edges if (b, a) in edges and a < b)


def test_no_two_packages_import_each_other():
    mutual = _mutual_packages(_graph())
    assert not mutual, "packages that import each other:\n" + "\n".join(f"{a} <-> {b}" for a, b in mutual)


def test_the_checks_catch_what_they_should(tmp_path):
    """The checks above are real: each fails on a small example of the tangle it guards against."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(spec, data):\n    if spec.modality == 'image':\n        return isinstance(data, LabeledImages)\n")
    tree = ast.parse(bad.read_text())
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare) and _name(n.left) == "modality"]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) == "isinstance"
             and _name(n.args[1]) in CONTAINERS]
    assert compares and calls
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    # a circle closed only under TYPE_CHECKING is still found
    pkg = tmp_path / "synthgen"
    pkg.mkdir()
    (pkg / "a.py").write_text("from synthgen import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from synthgen import a\n")
    files = {"synthgen.a": pkg / "a.py", "synthgen.b": pkg / "b.py"}
    global PACKAGE
    real, PACKAGE = PACKAGE, pkg
    try:
        assert _cycles(_graph(files)) == [["synthgen.a", "synthgen.b"]]
    finally:
        PACKAGE = real
    assert _mutual_packages({"synthgen.x.m": {"synthgen.y.n"}, "synthgen.y.n": {"synthgen.x.k"},
                             "synthgen.x.k": set()}) == [("x", "y")]
    assert _mutual_packages({"synthgen.x.m": {"synthgen.y.n"}, "synthgen.y.n": set()}) == []
