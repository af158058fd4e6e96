"""Every gallery example and notebook script runs to the end.

Each runs with ``runpy`` as ``__main__`` in the test process (the package's
imports, about 4 s, are paid once), with the Agg backend and
``SKLEARN_UNLEARN_QUICK=1`` (smaller ensembles, grids and samples; see
``examples/README.txt``), in a temporary working directory so that nothing is
written into the repository. The paired ``.ipynb`` of each notebook script is
checked to hold the same code cells, and executed as a notebook: cell by cell
by ``nbclient`` on an ``ipykernel`` kernel of the test interpreter (the
``notebooks`` extra, part of ``test``, installs them).
"""

from __future__ import annotations

import json
import os
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


def _kernel_spec(directory: Path) -> str:
    """A kernelspec in ``directory/kernels`` that runs this interpreter.

    The ``python3`` spec on the machine may belong to another environment;
    this one runs ``sys.executable``, so the kernel imports what the tests
    import.
    """
    name = "sklearn-unlearn-tests"
    spec = directory / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {
        "argv": argv,
        "display_name": "sklearn-unlearn tests",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return name


def _execute_in_kernel(notebook, tmp_path: Path, monkeypatch):
    """Run every cell of ``notebook`` in a fresh kernel; raise on a cell error.

    The kernel runs this interpreter with the Agg backend,
    ``SKLEARN_UNLEARN_QUICK=1``, one BLAS thread (as the in-process runs:
    ``pytest -n`` shares the cores), this checkout's package first on its
    path, and its working directory in ``tmp_path``. A cell that raises
    fails with nbclient's ``CellExecutionError`` (the cell and its
    traceback); a cell running over 300 s with a timeout.
    """
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import sklearn_unlearn

    jupyter = tmp_path / "jupyter"
    name = _kernel_spec(jupyter)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))  # where the spec is found
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    work = tmp_path / "cwd"
    work.mkdir()
    package_root = str(Path(sklearn_unlearn.__file__).resolve().parents[1])
    python_path = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
        "SKLEARN_UNLEARN_QUICK": "1",
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=name,
        timeout=300,  # per cell
        startup_timeout=120,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=env)
    codes = [c for c in notebook.cells if c.cell_type == "code"]
    assert codes and all(c.execution_count for c in codes)
    errors = [o for c in codes for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    return codes


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_in_a_kernel(script, tmp_path, monkeypatch):
    """Every cell of the committed .ipynb runs without error in a real kernel,
    and writes nothing next to the notebook."""
    nbformat = pytest.importorskip("nbformat")
    repo_files = sorted(p.name for p in script.parent.iterdir())
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    _execute_in_kernel(notebook, tmp_path, monkeypatch)
    assert sorted(p.name for p in script.parent.iterdir()) == repo_files


def test_progress_bars_show_in_a_kernel(tmp_path, monkeypatch):
    """``progress=None`` draws tqdm.auto's bar in a notebook (a widget, or
    text without ipywidgets), not only on a terminal."""
    nbformat = pytest.importorskip("nbformat")
    code = (
        "from sklearn_unlearn.metrics._parallel import parallel_map, show_progress\n"
        "assert show_progress(None)\n"
        "parallel_map(abs, [(-1,), (-2,)], desc='fits')"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    (cell,) = _execute_in_kernel(notebook, tmp_path, monkeypatch)
    widget = "application/vnd.jupyter.widget-view+json"
    bars = [
        o
        for o in cell.outputs
        if widget in o.get("data", {})
        or (o.output_type == "stream" and "fits" in o.get("text", ""))
    ]
    assert bars, cell.outputs


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
