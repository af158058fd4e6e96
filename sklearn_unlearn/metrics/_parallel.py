"""Parallel loops through joblib with an optional tqdm progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from joblib import Parallel, delayed
from tqdm.auto import tqdm

__all__ = ["parallel_map", "show_progress"]


def show_progress(progress: bool | None) -> bool:
    """Whether to draw a bar: ``progress``, or for ``None`` a terminal or notebook.

    ``None`` means: on a terminal (standard error is a TTY) or in a Jupyter
    kernel, where ``tqdm.auto`` draws a widget (or, without ``ipywidgets``,
    a text bar); not in a log file or a test run.

    Examples
    --------
    >>> from sklearn_unlearn.metrics._parallel import show_progress
    >>> show_progress(False), show_progress(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    if "ipykernel" in sys.modules and "IPython" in sys.modules:
        shell = sys.modules["IPython"].get_ipython()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def parallel_map(
    fn: Callable,
    tasks: Sequence[tuple],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> list:
    """``[fn(*t) for t in tasks]`` through :class:`joblib.Parallel`, in order.

    Any joblib backend works (``with joblib.parallel_backend("dask"): ...``).

    Parameters
    ----------
    fn : callable
    tasks : sequence of tuple
        The positional arguments of each call.
    n_jobs : int, default=None
        As in joblib (``None`` means 1 unless a backend context says otherwise).
    progress : bool, default=None
        Show a tqdm bar (``tqdm.auto``: a widget in a notebook): ``True``
        always, ``False`` never, ``None`` on a terminal or in a Jupyter
        kernel (:func:`show_progress`).
    desc : str, default=None
        The bar's label.

    Returns
    -------
    list
        The results, in the order of ``tasks``.

    Examples
    --------
    >>> from sklearn_unlearn.metrics._parallel import parallel_map
    >>> parallel_map(pow, [(2, 3), (3, 2)], progress=False)
    [8, 9]
    """
    tasks = list(tasks)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(fn)(*t) for t in tasks
    )
    disable = not show_progress(progress)
    return list(
        tqdm(results, total=len(tasks), desc=desc, disable=disable, leave=False)
    )
