"""The shape of the package (docs/adr/0005-layout.md): the import graph of ``src/yibao``, read with ``ast``.

- no import cycle between modules (every import counts, at module level or inside a function, except
  under ``if TYPE_CHECKING:``);
- the layer order contract → engine → settle → capabilities → interfaces: a module imports only
  from its own layer or the ones before it, and a capability imports no other capability;
- no name starting with ``_`` imported from another package (dunders such as ``__version__`` aside);
- no function-local ``yibao`` import outside the interfaces (the CLI imports its commands' modules
  late on purpose, so that ``yibao -h`` does not load DuckDB), except the optional-dependency
  imports listed in ``LAZY_OPTIONAL``.

Run ``python tests/test_import_graph.py`` for a report of every finding.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "yibao"

LAYERS = {
    "contract": 0,
    "engine": 1,
    "settle": 2,
    **{p: 3 for p in ("assess", "budget", "disclose", "dip", "drg", "fund", "leads", "profile", "quality", "review", "staff",
                      "store", "synth", "benefit", "outarea")},
    "cli": 4, "server": 4,
}
CAPABILITY = 3
INTERFACES = {"cli", "server"}
# function-local imports of an optional dependency's module (pyspark is imported only when asked for)
LAZY_OPTIONAL = {("yibao.engine.select", "yibao.engine.spark")}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return skip


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(edges module → modules, private imports (module, from, name), local imports (module, target))."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    private: list[tuple[str, str, str]] = []
    local: list[tuple[str, str]] = []
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        in_function = set()
        for f in ast.walk(tree):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_function.update(id(n) for n in ast.walk(f))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    b = ".".join(base) + (f".{node.module}" if node.module else "")
                else:
                    b = node.module or ""
                targets = [f"{b}.{a.name}" if f"{b}.{a.name}" in mods else b for a in node.names]
                if b.startswith("yibao"):
                    for a in node.names:
                        r = resolve(b)
                        if (a.name.startswith("_") and not a.name.startswith("__") and r
                                and _package(r) != _package(m)):
                            private.append((m, b, a.name))
            for t in targets:
                if not t.startswith("yibao"):
                    continue
                r = resolve(t)
                if r and r != m:
                    edges[m].add(r)
                    if id(node) in in_function and _package(m) not in INTERFACES and (m, r) not in LAZY_OPTIONAL:
                        local.append((m, r))
    return edges, private, local


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    nodes = sorted(set(edges) | {w for ws in edges.values() for w in ws})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return sorted(out)


def layer_breaks(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for a, bs in edges.items():
        pa_ = _package(a)
        for b in bs:
            pb = _package(b)
            if not pa_ or not pb or pa_ == pb:
                continue
            la, lb = LAYERS.get(pa_), LAYERS.get(pb)
            if la is None or lb is None or lb > la or (la == lb == CAPABILITY):
                bad.append((a, b))
    return sorted(bad)


def test_every_package_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"packages without a layer: {sorted(packages - set(LAYERS))}"


def test_no_import_cycles():
    edges, _, _ = graph()
    assert cycles(edges) == []


def test_layer_order():
    edges, _, _ = graph()
    assert layer_breaks(edges) == []


def test_no_private_imports_across_packages():
    _, private, _ = graph()
    assert private == []


def test_no_function_local_imports_outside_interfaces():
    _, _, local = graph()
    assert sorted(set(local)) == []


def test_the_checks_can_fail():
    """The checker itself finds a cycle, a layer break and a capability → capability import."""
    edges = {"yibao.dip.a": {"yibao.dip.b"}, "yibao.dip.b": {"yibao.dip.a"},
             "yibao.engine.x": {"yibao.cli.y"}, "yibao.drg.z": {"yibao.dip.a"}}
    assert cycles(edges) == [["yibao.dip.a", "yibao.dip.b"]]
    assert layer_breaks(edges) == [("yibao.drg.z", "yibao.dip.a"), ("yibao.engine.x", "yibao.cli.y")]


if __name__ == "__main__":
    e, priv, loc = graph()
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for c in cycles(e):
        if not only or any(_package(m) == only for m in c):
            print("cycle:", " ↔ ".join(c))
    for a, b in layer_breaks(e):
        if not only or _package(a) == only:
            print("layer break:", a, "→", b)
    for m, f, n in priv:
        if not only or _package(m) == only:
            print("private import:", m, "imports", n, "from", f)
    for m, t in sorted(set(loc)):
        if not only or _package(m) == only:
            print("function-local import:", m, "→", t)
