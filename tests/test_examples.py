"""Every gallery example and notebook script runs to the end.

Each runs with ``runpy`` as ``__main__`` in the test process (the package's
imports, about 4 s, are paid once), with the Agg backend and
``SKLEARN_UNLEARN_QUICK=1`` (smaller ensembles, grids and samples; see
``examples/README.txt``), in a temporary working directory so that nothing is
written into the repository. The paired ``.ipynb`` of each notebook script is
checked to hold the same code cells.
"""

from __future__ import annotations

import json
import runpy
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
NOTEBOOKS = sorted((EXAMPLES / "notebooks").glob("*.py"))
NEEDS_TORCH = {"plot_skorch_mlp.py"}


def _run_in_process(script: Path, tmp_path: Path, monkeypatch) -> None:
    """``runpy`` the script as ``__main__`` (imports are paid once per session).

    Global state the scripts may touch is restored afterwards: scikit-learn's
    config (metadata routing), matplotlib figures, the working directory and
    the environment.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn import config_context
    from threadpoolctl import threadpool_limits

    monkeypatch.setenv("SKLEARN_UNLEARN_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    try:
        with config_context(), threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            runpy.run_path(str(script), run_name="__main__")
    finally:
        plt.close("all")


def test_examples_are_found():
    assert len(SCRIPTS) >= 8
    assert {p.name for p in NOTEBOOKS} >= {"german_credit.py", "adult.py"}


@pytest.mark.parametrize("script", SCRIPTS + NOTEBOOKS, ids=lambda p: p.name)
def test_example_runs(script, tmp_path, monkeypatch):
    if script.name in NEEDS_TORCH:
        pytest.importorskip("torch")
        pytest.importorskip("skorch")
    _run_in_process(script, tmp_path, monkeypatch)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_gallery_script_has_a_title(script):
    """sphinx-gallery needs a docstring whose first line is a title."""
    text = script.read_text()
    assert text.startswith('"""\n'), script.name
    lines = text.splitlines()
    assert set(lines[1]) == {"="} and set(lines[3]) == {"="}, script.name
    assert len(lines[1]) >= len(lines[2]), f"{script.name}: title overline too short"


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_paired(script):
    """The committed .ipynb holds the code cells of its percent script."""
    notebook = script.with_suffix(".ipynb")
    assert notebook.exists(), f"run: jupytext --to ipynb {script.name}"
    cells = json.loads(notebook.read_text())["cells"]
    nb_code = ["".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"]
    py_code = []
    for chunk in script.read_text().split("\n# %%")[1:]:
        if chunk.startswith(" [markdown]"):
            continue
        py_code.append(chunk.split("\n", 1)[1].strip() if "\n" in chunk else "")
    assert nb_code == py_code, (
        f"{notebook.name} is out of date: jupytext --sync examples/notebooks/"
        f"{script.name}"
    )


def test_readme_quick_start_on_a_dataframe(tmp_path, monkeypatch):
    """The README's DataFrame quick start runs on a CSV like a user's."""
    import re

    pytest.importorskip("pandas")
    from sklearn_unlearn.datasets import load_german_credit

    data = load_german_credit(as_frame=True)
    frame = data.data.copy()
    frame["churned"] = data.target
    frame.to_csv(tmp_path / "customers.csv", index=False)
    readme = (ROOT / "README.md").read_text()
    code = re.search(
        r"## Quick start on your own DataFrame\n.*?```python\n(.*?)```", readme, re.S
    ).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    ledger = namespace["model"][-1].ledger_
    assert [e.operation for e in ledger] == ["fit", "unlearn"]
    assert ledger[-1].n_remaining == len(frame) - 10
