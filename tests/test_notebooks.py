"""Committed notebooks are clean: no outputs, kernelspec python3, one tagged parameters cell."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
REQUIRED = {"profile", "params_file", "artifacts"}


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_and_no_function_definitions(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    names = {t.id for n in ast.parse(tagged[0].source).body for t in getattr(n, "targets", [])}
    assert REQUIRED <= names, f"{path.name}: parameters cell lacks {REQUIRED - names}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[-1].cell_type == "markdown"
    for c in nb.cells:
        if c.cell_type == "code":
            tree = ast.parse(c.source)
            defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            assert not defs, f"{path.name}: notebooks define no library code ({defs[0].name})"
