"""Parallel loops through joblib with an optional tqdm progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from joblib import Parallel, delayed
from tqdm.auto import tqdm

__all__ = ["parallel_map"]


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
        Show a tqdm bar: ``True`` always, ``False`` never, ``None`` only when
        the output is a terminal.
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
    disable = None if progress is None else not progress
    return list(
        tqdm(results, total=len(tasks), desc=desc, disable=disable, leave=False)
    )
