"""What every benchmark script shares: header, tables, timers, threads, the net.

* :func:`script_parser`: the command line every script starts from
  (``--quick`` for a smoke run of the whole script on tiny sizes, and
  ``--threads``);
* :func:`machine_header`: platform, CPU count, library versions, the thread
  setting, the git commit and the load average, as markdown bullets;
* :func:`markdown_table` and :func:`frame_table`: markdown tables from rows
  or from a ``pandas.DataFrame``;
* :func:`timed`, :class:`Timer` and :func:`median_timing`: wall time
  (``time.perf_counter``) and CPU time (``time.process_time``) together;
* :func:`limit_threads`: BLAS/OpenMP and torch threads for a block (one by
  default: on a shared 2-core machine more threads make timings noise);
* :func:`make_net`: the ``d -> 64 -> 32 -> 2`` ReLU MLP as a skorch
  classifier, the recipe of every net benchmark;
* :func:`column_encoder`: one-hot categoricals and standardised numerics
  for the bundled tables (:mod:`sklearn_unlearn.datasets`).

The scripts import it as ``from _common import ...``: Python puts a script's
own folder first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "Timer",
    "Timing",
    "categorical_as_object",
    "column_encoder",
    "frame_table",
    "format_cell",
    "git_commit",
    "limit_threads",
    "log",
    "machine_header",
    "make_net",
    "markdown_table",
    "median_timing",
    "mlp_class",
    "script_parser",
    "timed",
]

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ header
def _git(*args) -> str:
    """``git args`` in this checkout (read-only queries), its stripped stdout."""
    out = subprocess.run(
        ["git", *args], capture_output=True, text=True, cwd=HERE, timeout=10
    )
    return out.stdout.strip()


def git_commit() -> str:
    """Short hash of the checkout's HEAD (``+`` when it has uncommitted changes)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (head or "?") + ("+" if head and dirty else "")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_header(threads=1, extra=()) -> str:
    """The machine and software of a run, as markdown bullets.

    Parameters
    ----------
    threads : int or None
        The BLAS/OpenMP/torch thread setting of the run (``None`` or 0:
        the libraries' default).
    extra : iterable of str
        More bullets, appended as given.
    """
    from threadpoolctl import threadpool_info

    versions = ", ".join(
        f"{name} {v}"
        for name, v in (
            ("numpy", np.__version__),
            ("scipy", _version("scipy")),
            ("scikit-learn", _version("scikit-learn")),
            ("torch", _version("torch")),
            ("skorch", _version("skorch")),
        )
        if v
    )
    lines = [
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs "
        f"({platform.platform()}), Python {platform.python_version()}",
        f"- {versions}",
    ]
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            lines.append(
                f"- BLAS: {info.get('internal_api')} {info.get('version')} "
                f"({info.get('threading_layer', '?')}, default "
                f"{info.get('num_threads')} threads)"
            )
    lines.append(
        "- BLAS/OpenMP/torch threads during the run: "
        + ("library default" if not threads else str(threads))
    )
    lines.append(f"- commit {git_commit()}")
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        lines.append(f"- load average at start (1, 5, 15 min): {load}")
    except OSError:  # pragma: no cover - not on every platform
        pass
    lines += list(extra)
    return "\n".join(lines)


def script_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """A script's parser: its docstring's first line, ``--quick`` and ``--threads``.

    ``quick`` says what ``--quick`` shrinks; ``--threads`` (default 1, 0 for
    the libraries' default) is the setting for :func:`limit_threads`.
    """
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run of every part: " + quick.replace("%", "%%"),
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP and torch threads for everything (default 1: stable "
        "timings on a shared machine; 0: the libraries' default)",
    )
    return parser


def log(*parts) -> None:
    """Progress to stderr, time-stamped (stdout carries the report)."""
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ tables
def format_cell(v) -> str:
    """A float to 3 significant digits (thousands separated), NaN/None as —."""
    if v is None:
        return "—"
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return "—"
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def markdown_table(header, rows, numeric=False) -> str:
    """A markdown table; ``numeric=True`` right-aligns all but the first column.

    Cells are written with :func:`format_cell` (strings pass unchanged).
    """
    header = [str(h) for h in header]
    align = ["---"] + (["---:"] if numeric else ["---"]) * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(format_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def frame_table(df) -> str:
    """A ``pandas.DataFrame`` as a markdown table (its index dropped)."""
    return markdown_table(list(df.columns), df.itertuples(index=False))


# ------------------------------------------------------------------ timing
@dataclass
class Timing:
    """Seconds of wall time (``perf_counter``) and CPU time (``process_time``)."""

    wall: float
    cpu: float


class Timer:
    """``with Timer() as t: ...``; then ``t.wall`` and ``t.cpu`` in seconds.

    ``sync`` (optional) is called at both ends, e.g. to wait for a GPU.
    """

    def __init__(self, sync=None):
        self.sync = sync

    def __enter__(self):
        if self.sync is not None:
            self.sync()
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if self.sync is not None:
            self.sync()
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        return False

    @property
    def timing(self) -> Timing:
        """The block's wall and CPU seconds as one :class:`Timing`."""
        return Timing(self.wall, self.cpu)


def timed(fn, sync=None):
    """``fn()`` and its :class:`Timing`: ``out, t = timed(lambda: ...)``."""
    with Timer(sync) as t:
        out = fn()
    return out, t.timing


def median_timing(fn, repeats: int, warmup: bool = False, sync=None) -> Timing:
    """Median wall and CPU time of ``repeats`` calls (after one untimed call)."""
    if warmup:
        fn()
    times = [timed(fn, sync)[1] for _ in range(repeats)]
    return Timing(
        statistics.median(t.wall for t in times),
        statistics.median(t.cpu for t in times),
    )


# ------------------------------------------------------------------ threads
@contextmanager
def limit_threads(threads=1):
    """BLAS/OpenMP threads (threadpoolctl) and torch's threads for the block.

    ``None`` or 0 keeps the libraries' defaults. Torch is limited only when
    it is already imported (import it first); its setting is restored after.
    """
    if not threads:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


# ------------------------------------------------------------------ the net
def _build_mlp():
    from torch import nn

    class MLP(nn.Module):
        """``d -> 64 -> 32 -> 2`` with ReLU; casts its input to float32."""

        def __init__(self, n_features=10):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(n_features, 64),
                nn.ReLU(),
                nn.Linear(64, 32),
                nn.ReLU(),
                nn.Linear(32, 2),
            )

        def forward(self, X):
            return self.layers(X.float())

    # a module-level name, so that pickle (and joblib) find the class
    MLP.__module__, MLP.__qualname__ = __name__, "MLP"
    return MLP


def mlp_class():
    """``MLP``, the torch module of :func:`make_net`, built on first use.

    Torch is imported only then, so that scripts without it import this
    module cheaply; ``_common.MLP`` is the same class.
    """
    if "MLP" not in globals():
        globals()["MLP"] = _build_mlp()
    return globals()["MLP"]


def __getattr__(name):
    if name == "MLP":
        return mlp_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_net(
    n_features: int,
    *,
    epochs: int = 20,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float | None = None,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    callbacks=None,
    device: str = "cpu",
    seed: int | None = None,
):
    """The benchmarks' net: ``d -> 64 -> 32 -> 2`` ReLU, cross-entropy, skorch.

    Unfitted ``NeuralNetClassifier`` with ``train_split=None`` and
    ``verbose=0``; ``optimizer`` is ``"adam"`` or ``"sgd"`` (``momentum``
    for SGD). With ``seed``, the module is built here right after
    ``torch.manual_seed(seed)``, so every clone starts from the same
    weights; without, each fit draws fresh weights from torch's global
    generator.
    """
    import torch
    from skorch import NeuralNetClassifier

    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    kw = {"optimizer__weight_decay": weight_decay}
    if momentum is not None:
        kw["optimizer__momentum"] = momentum
    if seed is None:
        module, kw["module__n_features"] = mlp_class(), n_features
    else:
        torch.manual_seed(seed)
        module = mlp_class()(n_features)
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=opt,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        callbacks=callbacks,
        verbose=0,
        device=device,
        **kw,
    )


# ------------------------------------------------------------------ tables' data
def column_encoder(
    bunch,
    *,
    missing: str = "category",
    numeric_first: bool = False,
    drop=None,
    sparse: bool = False,
):
    """One-hot categoricals, standardised numerics, for a bundled table.

    Unfitted ``ColumnTransformer``; ``bunch`` is a bundled data set loaded
    with ``as_frame=True``. ``missing="category"`` makes a missing value a
    category of its own (cast the categorical columns to ``object`` first,
    :func:`categorical_as_object`); ``"most_frequent"`` imputes the mode.
    ``drop`` and ``sparse`` go to the ``OneHotEncoder``; ``numeric_first``
    puts the numeric columns first.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    imputer = (
        SimpleImputer(strategy="constant", fill_value="missing")
        if missing == "category"
        else SimpleImputer(strategy=missing)
    )
    categorical = make_pipeline(
        imputer,
        OneHotEncoder(handle_unknown="ignore", drop=drop, sparse_output=sparse),
    )
    parts = [
        ("cat", categorical, list(bunch.categorical_features)),
        ("num", StandardScaler(), list(bunch.numerical_features)),
    ]
    return ColumnTransformer(parts[::-1] if numeric_first else parts)


def categorical_as_object(bunch):
    """The frame with its categorical columns as ``object`` (the imputer's need)."""
    return bunch.data.astype({c: object for c in bunch.categorical_features})
