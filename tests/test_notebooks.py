"""Every notebook in notebooks/ runs on small settings and records figures in range.

Parameters are injected papermill-style: a cell right after the one tagged
``parameters``. The cell tagged ``results`` prints one JSON object; its figures
must fall in the expected ranges below, or the run fails.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, tmp_path: Path, timeout: int = 600, **parameters) -> dict:
    """Execute ``notebooks/<name>.ipynb`` with ``parameters``; return its recorded results."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    cell = next(c for c in nb.cells if "results" in c.metadata.get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    return {**json.loads(text.strip().splitlines()[-1]), "_figures": len(figures)}


def test_notebooks_are_the_generated_ones():
    """The .ipynb files match notebooks/make_notebooks.py (edit the script, not the JSON)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, nb in (("01_explore", module.EXPLORE), ("02_train_evaluate", module.TRAIN),
                     ("03_bundles", module.BUNDLES), ("04_neo4j", module.NEO4J)):
        on_disk = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert [c.source for c in on_disk.cells] == [c.source for c in nb.cells], name


def test_01_explore(tmp_path):
    r = run_notebook("01_explore", tmp_path, top_items=30)
    assert r["items"] == 120 and r["users"] == 200 and r["categories"] == 16
    assert r["co_purchased_edges"] > 20 and 10 <= r["drawn_nodes"] <= 30
    assert r["_figures"] == 3


def test_02_train_evaluate(tmp_path, data_dir):
    r = run_notebook("02_train_evaluate", tmp_path, data_dir=str(data_dir), epochs=6)
    assert r["n_users"] == 1449
    recall = r["recall@20"]
    assert abs(recall["ItemKNN"] - 0.0822) < 0.002  # the reference figure (EVALUATION.md)
    assert recall["ItemKNN"] > 1.5 * recall["MostPopular"] and recall["EASE (λ=500)"] > recall["MostPopular"]
    assert 0.02 < recall["LightGCN"] < 0.2 and 0 <= r["best_epoch"] < 6
    assert r["_figures"] == 2


def test_03_bundles(tmp_path):
    r = run_notebook("03_bundles", tmp_path, n_users=2, size=3, rl_epochs=3)
    assert r["bundle_sizes"] == [3] and r["distinct_pairs"]
    assert 1 <= r["rl_epochs_run"] <= 3 and r["best_valid_reward"] >= r["first_valid_reward"] > 0
    assert r["_figures"] == 2


def test_04_neo4j(tmp_path):
    if not os.environ.get("NEO4J_URI"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("NEO4J_URI is not set in CI: 'make test' must start Neo4j ('cartgraph neo4j run')")
        pytest.skip("NEO4J_URI is not set (make test starts a server and sets it)")
    r = run_notebook("04_neo4j", tmp_path)
    assert r["neo4j_matches_graph"]
    assert r["queries"] >= 10 and r["queries_ran"] >= r["queries"] - 2 and r["queries_with_rows"] >= 5
    assert r["_figures"] == 1
