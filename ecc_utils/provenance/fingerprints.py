"""What a pipeline step depends on, as content hashes: files, folders, and the `ecc_utils`
modules its notebook actually imports.

A notebook depends on the package modules it imports and, transitively, on the modules those
import (at module level or inside a function, since both run; imports under
``if TYPE_CHECKING:`` never run and do not count). Importing ``ecc_utils.a.b`` runs the
packages ``ecc_utils`` and ``ecc_utils.a`` too. So editing the plotting module re-runs only
the notebooks that draw figures, while editing the training code re-runs every notebook that
imports it, and, through their changed outputs, what lies downstream.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "ecc_utils"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def hash_paths(paths: Iterable[Path], base: Path | None = None) -> str:
    """Content hash of files and folders (recursively, names included); a missing path counts."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            name = str(f.relative_to(base)) if base and f.is_relative_to(base) else str(f)
            h.update(name.encode() + b"\0")
            if f.is_file():
                with f.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            else:
                h.update(b"<missing>")
            h.update(b"\0")
    return h.hexdigest()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str | None) -> set[str]:
    """Dotted names imported anywhere in `tree` (relative imports resolved against `package`),
    `from X import Y` giving both X and X.Y (Y may be a module); TYPE_CHECKING blocks skipped."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = (package or "").split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of package module `name` (``ecc_utils.a.b``), or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(name: str, file: Path) -> str:
    return name if file.name == "__init__.py" else name.rpartition(".")[0]


def module_closure(roots: Iterable[str], package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every package module that importing `roots` runs: ``{dotted name: source file}``."""
    seen: dict[str, Path] = {}
    todo = [r for r in roots if r.split(".")[0] == PACKAGE]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        # Importing a.b.c runs a and a.b first.
        for k in range(1, len(parts) + 1):
            mod = ".".join(parts[:k])
            if mod in seen:
                continue
            file = module_file(mod, package_dir)
            if file is None:  # a name imported from a module, not a module itself
                continue
            seen[mod] = file
            todo.extend(
                n for n in _file_imports(file, _package_of(mod, file)) if n.split(".")[0] == PACKAGE
            )
    return seen


# Parsed imports per (package, source text): a plan's steps import mostly the same modules,
# and parsing them again for every step was half of a warm `make book`.
_IMPORTS_CACHE: dict[tuple[str, str], frozenset[str]] = {}


def _file_imports(file: Path, package: str) -> frozenset[str]:
    """`_imports` of the module in `file`, parsed once per process for the same source text."""
    text = file.read_text(encoding="utf-8")
    key = (package, hashlib.sha256(text.encode()).hexdigest())
    if key not in _IMPORTS_CACHE:
        _IMPORTS_CACHE[key] = frozenset(_imports(ast.parse(text, filename=str(file)), package))
    return _IMPORTS_CACHE[key]


def code_cells(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    # Plain JSON, not nbformat: importing nbformat's validator (jsonschema and its format
    # checkers) took 2 of a warm `make book`'s 5 seconds.
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append("".join(source) if isinstance(source, list) else source)
    return out


def notebook_code_hash(notebook: Path) -> str:
    """Hash of a notebook's code cells (its prose and outputs do not count)."""
    h = hashlib.sha256()
    for source in code_cells(notebook):
        h.update(source.encode() + b"\0")
    return h.hexdigest()


def notebook_imports(notebook: Path) -> set[str]:
    """The dotted names a notebook's code cells import (IPython magics and shell lines skipped)."""
    out: set[str] = set()
    for source in code_cells(notebook):
        code = "\n".join(
            line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        out |= _imports(ast.parse(code), None)
    return out


def package_hash(notebook: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """Hash of the package modules `notebook` runs (see `module_closure`)."""
    files = sorted(module_closure(notebook_imports(notebook), package_dir).values())
    return hash_paths(files, base=package_dir)


def module_hashes(notebook: Path, package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """``{module: content hash}`` of the package modules `notebook` runs, so that a changed
    fingerprint can say which module changed (``python -m ecc_utils.build --dry-run``)."""
    closure = module_closure(notebook_imports(notebook), package_dir)
    return {name: hash_paths([f], base=package_dir)[:16] for name, f in sorted(closure.items())}


def external_key(path: str, root: Path) -> str:
    """How a fingerprint names a file outside the artifacts: relative to the project `root`
    when it lies inside it (the same in every copy of the project, so that a build moved or
    unpacked elsewhere stays up to date), else as given (a data folder)."""
    p = Path(path)
    if p.is_absolute() and p.is_relative_to(root.resolve()):
        return p.relative_to(root.resolve()).as_posix()
    return path


def fingerprint(step, profile, notebooks_dir: Path, art: Path, package_dir: Path = PACKAGE_DIR):
    """What a step's result depends on, as content hashes: its notebook, the profile and step
    parameters, the package modules it imports, its upstream artifacts and external folders."""
    params = {"profile": profile.to_dict() | {"file": ""}, "step": step.parameters}
    notebook = notebooks_dir / step.notebook
    return {
        "notebook": hash_paths([notebook], base=notebooks_dir),
        "parameters": hashlib.sha256(
            json.dumps(params, sort_keys=True, default=str).encode()
        ).hexdigest(),
        "ecc_utils": package_hash(notebook, package_dir),
        "modules": module_hashes(notebook, package_dir),
        "inputs": {i: hash_paths([art / i], base=art) for i in step.inputs},
        "external": {
            external_key(e, notebooks_dir.parent): hash_paths([Path(e)], base=Path(e))
            for e in step.external
        },  # fmt: skip
    }
