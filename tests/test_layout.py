"""The package's layout: no import circle and no import that climbs.

Every ``ecc_utils`` import counts, at module level or inside a function, type-only ones
(``if TYPE_CHECKING:``) included: a circle among type hints is still a circle for a reader. A
module may import its own layer or the layers below it (`LAYERS`); siblings of one layer that
are separate stages (data, cloud, end model) do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ecc_utils

PACKAGE = Path(ecc_utils.__file__).parent

# Lowest first. A module is placed by its longest matching prefix.
LAYERS: list[tuple[str, ...]] = [
    ("paper", "records", "numerics", "provenance"),
    ("config", "artifacts", "privacy", "encoders"),
    ("data", "cloud", "endmodel"),
    ("train",),
    ("scoring",),
    ("evolve",),
    ("report", "playground"),
    ("build",),
]
SEPARATE_STAGES = {"data", "cloud", "endmodel"}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        out[name] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ecc_utils"):
            base = node.module.removeprefix("ecc_utils").lstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                found.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("ecc_utils.") for a in node.names
                      if a.name.startswith("ecc_utils.")}  # fmt: skip
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def layer(module: str) -> tuple[int, str]:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i, top
    raise AssertionError(f"ecc_utils.{module}: in no layer of tests/test_layout.py")


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_no_import_climbs_a_layer_or_crosses_to_a_sibling_stage() -> None:
    bad = []
    for module, targets in graph().items():
        if not module:  # the package's own __init__
            continue
        (mine, top) = layer(module)
        for t in targets:
            (theirs, other) = layer(t)
            if theirs > mine or (
                theirs == mine and top != other and {top, other} <= SEPARATE_STAGES
            ):
                bad.append(f"{module} -> {t}")
    assert bad == []


def test_the_checks_find_a_circle_and_a_climb() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("cloud.knn")[0] < layer("scoring.scorers")[0]


def test_the_top_of_the_package_is_the_shared_contract() -> None:
    """At most eight modules beside the subpackages, and every subpackage in a layer."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 8, top
    for d in PACKAGE.iterdir():
        if (d / "__init__.py").is_file():
            layer(d.name)
