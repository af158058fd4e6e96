"""Every benchmark script runs end to end with ``--quick`` and prints a table.

The scripts run as subprocesses (``sys.executable``), two at a time (they
are single-threaded), each in its own temporary folder, with every output
they write pointed there, no bytecode written and Matplotlib's Agg backend:
nothing lands in the repository, which the tests check.
"""

import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

#: script -> the optional packages it cannot run without
SCRIPTS = {
    "bench_evaluation.py": (),  # leaves out the net without torch, ART without ART
    "bench_linear.py": (),
    "bench_mislabeled.py": (),
    "bench_net_damping.py": ("torch", "skorch"),
    "bench_neural.py": ("torch", "skorch"),
    "bench_per_sample_gradients.py": ("torch", "skorch"),
    "bench_puma.py": ("torch", "skorch"),
    "bench_scale.py": (),
}
#: a markdown table: a header row, then its separator row
TABLE = re.compile(r"^\|.*\|\s*\n\|(\s*:?-{3,}:?\s*\|)+\s*$", re.MULTILINE)
TIMEOUT_S = 600


def _missing(script):
    return [m for m in SCRIPTS[script] if importlib.util.find_spec(m) is None]


def _arguments(script, folder):
    """``--quick`` and, for scripts that write files, paths inside ``folder``."""
    args = ["--quick"]
    if script in ("bench_evaluation.py", "bench_linear.py"):
        args += ["--output", str(folder / "report.md")]
    if script == "bench_scale.py":
        args += ["--data-dir", str(folder / "data"), "--output", str(folder / "r.md")]
    return args


def _run(script, folder):
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        MPLCONFIGDIR=str(folder / "mpl"),
        PYTHONDONTWRITEBYTECODE="1",
        TMPDIR=str(folder),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *_arguments(script, folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def _snapshot():
    return {
        p: p.stat().st_mtime_ns
        for p in BENCHMARKS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def quick_runs(request, tmp_path_factory):
    """Start every selected script's ``--quick`` run, two at a time."""
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_quick_run"
        and hasattr(item, "callspec")
    ]
    before = _snapshot()
    pycache = (BENCHMARKS / "__pycache__").exists()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {
            script: pool.submit(_run, script, tmp_path_factory.mktemp(script[:-3]))
            for script in dict.fromkeys(selected)
            if not _missing(script)
        }
        yield runs, before, pycache


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run(script, quick_runs):
    for module in SCRIPTS[script]:
        pytest.importorskip(module)
    runs, before, pycache = quick_runs
    result = runs[script].result()
    tail = (result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == 0, tail
    assert TABLE.search(result.stdout), tail
    assert _snapshot() == before, "a quick run wrote into benchmarks/"
    assert (BENCHMARKS / "__pycache__").exists() == pycache


def test_every_script_is_tested():
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == set(SCRIPTS)
