"""Every gallery example and notebook script runs to the end.

Each runs in a fresh interpreter with the Agg backend and
``SKLEARN_UNLEARN_QUICK=1`` (smaller ensembles, grids and samples; see
``examples/README.txt``), in a temporary working directory so that nothing is
written into the repository. The paired ``.ipynb`` of each notebook script is
checked to hold the same code cells.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
NOTEBOOKS = sorted((EXAMPLES / "notebooks").glob("*.py"))
NEEDS_TORCH = {"plot_skorch_mlp.py"}


def _run(script: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",
        SKLEARN_UNLEARN_QUICK="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONWARNINGS="ignore::UserWarning",
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_examples_are_found():
    assert len(SCRIPTS) >= 8
    assert {p.name for p in NOTEBOOKS} >= {"german_credit.py", "adult.py"}


@pytest.mark.parametrize("script", SCRIPTS + NOTEBOOKS, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    if script.name in NEEDS_TORCH:
        pytest.importorskip("torch")
        pytest.importorskip("skorch")
    result = _run(script, tmp_path)
    assert result.returncode == 0, (
        f"{script.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


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
