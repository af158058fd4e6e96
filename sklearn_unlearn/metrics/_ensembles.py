"""Ensembles of oracle (retrained) and unlearned models for KLoM and U-LiRA.

A margin *distribution* per row needs many models. Nets get their spread
from the random seed (all members train on the whole pool). Deterministic
learners (a convex model polished to its optimum) would give one model many
times, so they get it from subsampling instead: member ``k`` trains on all
forget rows plus a random half of the retained rows, and oracle ``k`` on
the same half of the retained rows without the forget rows. Members and
oracles with the same ``random_state`` therefore pair up by index.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples

from ..utils._validation import check_forget_mask
from ._margins import find_net
from ._parallel import parallel_map

__all__ = [
    "EnsemblePlan",
    "accepts_forget",
    "method_param",
    "ensemble_plan",
    "fit_oracles",
    "fit_unlearned",
]


@dataclass(frozen=True)
class EnsemblePlan:
    """Which retained rows and which seed each ensemble member uses.

    Attributes
    ----------
    retained : list of ndarray of bool
        Per member, a mask over the pool: the retained rows it trains on.
    seeds : list of int
        Per member, the seed set before fitting.
    spread : {"subsample", "seed"}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import ensemble_plan
    >>> plan = ensemble_plan(LogisticRegression(), np.arange(10) < 2, n_models=3,
    ...                      random_state=0)
    >>> len(plan.retained), plan.spread
    (3, 'subsample')
    """

    retained: list
    seeds: list
    spread: str


def _is_stochastic(estimator) -> bool:
    """A net (skorch, or scikit-learn's MLP), whose fit depends on a seed."""
    est = estimator
    for _ in range(8):
        skorch = sys.modules.get("skorch")
        if skorch is not None and isinstance(est, skorch.NeuralNet):
            return True
        if type(est).__module__.startswith("sklearn.neural_network"):
            return True
        if hasattr(est, "steps"):
            est = est.steps[-1][1]
        elif hasattr(est, "estimator"):
            est = est.estimator
        else:
            return False
    return False


def ensemble_plan(
    estimator, forget, n_models: int = 8, random_state=None, spread: str = "auto"
) -> EnsemblePlan:
    """Draw the members' training rows and seeds (shared by oracles and unlearned).

    Parameters
    ----------
    estimator : estimator instance
        Decides ``spread="auto"``: ``"seed"`` for nets (skorch, scikit-learn
        MLP, also when wrapped), ``"subsample"`` otherwise.
    forget : ndarray of bool, shape (n_samples,)
    n_models : int, default=8
    random_state : int, RandomState instance or None, default=None
    spread : {"auto", "subsample", "seed"}, default="auto"

    Returns
    -------
    EnsemblePlan

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import ensemble_plan
    >>> forget = np.arange(10) < 2
    >>> plan = ensemble_plan(LogisticRegression(), forget, n_models=3, random_state=0)
    >>> plan.spread, [int(r.sum()) for r in plan.retained]
    ('subsample', [4, 4, 4])
    """
    forget = np.asarray(forget, dtype=bool)
    if int(n_models) != n_models or n_models < 2:
        raise ValueError(f"n_models must be an integer >= 2, got {n_models!r}.")
    if spread not in ("auto", "subsample", "seed"):
        raise ValueError(
            f"spread must be 'auto', 'subsample' or 'seed', got {spread!r}."
        )
    if spread == "auto":
        spread = "seed" if _is_stochastic(estimator) else "subsample"
    rng = check_random_state(random_state)
    seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=int(n_models))]
    keep = np.flatnonzero(~forget)
    retained = []
    for _ in range(int(n_models)):
        mask = ~forget
        if spread == "subsample":
            mask = np.zeros_like(forget)
            mask[rng.choice(keep, size=len(keep) // 2, replace=False)] = True
        retained.append(mask)
    return EnsemblePlan(retained=retained, seeds=seeds, spread=spread)


def accepts_forget(estimator) -> bool:
    """Whether ``estimator`` can forget: ``fit(..., forget=mask)`` then unlearns.

    The library's unlearning estimators (``UnlearningClassifier``,
    ``UnlearningRegressor``, ``SISAClassifier``) and its ``UnlearnPipeline``
    all have ``unlearn`` and honour ``forget`` at fit; a scikit-learn model or
    a plain ``Pipeline`` has neither.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.metrics import accepts_forget
    >>> from sklearn_unlearn.pipeline import make_pipeline
    >>> accepts_forget(LogisticRegression()), accepts_forget(
    ...     UnlearningClassifier(LogisticRegression()))
    (False, True)
    >>> accepts_forget(make_pipeline(StandardScaler(),
    ...                              UnlearningClassifier(LogisticRegression())))
    True

    One that was told not to request the mask
    (``set_fit_request(forget=False)``, with metadata routing on) trains on
    every row and forgets none: the do-nothing baseline.
    """
    if not callable(getattr(estimator, "unlearn", None)):
        return False
    try:
        routing = estimator.get_metadata_routing()
        return bool(routing.consumes("fit", ["forget"]))
    except (AttributeError, TypeError, ValueError):  # no routing information
        return True


def method_param(estimator) -> str | None:
    """The parameter that sets ``estimator``'s unlearning method, if any.

    ``"method"`` for an unlearning estimator, ``"<last step>__method"`` for
    a pipeline ending in one, None otherwise.
    """
    if "method" in estimator.get_params(deep=False):
        return "method"
    steps = getattr(estimator, "steps", None)
    if steps:
        name = f"{steps[-1][0]}__method"
        if name in estimator.get_params(deep=True):
            return name
    return None


def _seeded(estimator, seed):
    est = clone(estimator)
    params = {
        k: seed
        for k, v in est.get_params(deep=True).items()
        if k.endswith("random_state") and not hasattr(v, "get_params")
    }
    if params:
        est.set_params(**params)
    return est


def _fit_member(estimator, X, y, rows, forget_rows, seed):
    """Fit a clone on ``rows``; unlearn ``forget_rows`` (a mask over ``rows``)."""
    est = _seeded(estimator, seed)
    if find_net(est) is not None or _is_stochastic(est):
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.manual_seed(seed)
    Xs, ys = _safe_indexing(X, rows), np.asarray(y)[rows]
    if forget_rows is not None and forget_rows.any() and accepts_forget(est):
        est.fit(Xs, ys, forget=forget_rows)
    else:  # an oracle, or the "do nothing" baseline
        est.fit(Xs, ys)
    return est


def _check_pool(X, y, forget):
    y = np.asarray(y)
    n = len(y)
    if _num_samples(X) != n:
        raise ValueError(f"X has {_num_samples(X)} rows but y has {n}.")
    return y, check_forget_mask(forget, n, require_some=True)


def fit_oracles(
    estimator,
    X,
    y,
    forget,
    n_models: int = 8,
    random_state=None,
    n_jobs: int | None = None,
    *,
    spread: str = "auto",
    progress: bool | None = None,
) -> list:
    """Fit ``n_models`` oracles: models that never saw the ``forget`` rows.

    Nets differ by seed and train on all retained rows; deterministic
    (convex) learners train each on a random half of the retained rows (see
    the module notes). Use the same ``random_state`` in :func:`fit_unlearned`
    to get the matching unlearned ensemble. Oracles are fitted in parallel
    through joblib.

    Parameters
    ----------
    estimator : estimator instance
        Cloned for every oracle; an unlearning estimator is fitted plainly.
    X : array-like of shape (n_samples, n_features)
        The pool: retained and forget rows.
    y : array-like of shape (n_samples,)
    forget : ndarray of bool, shape (n_samples,)
    n_models : int, default=8
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
    spread : {"auto", "subsample", "seed"}, default="auto"
    progress : bool, default=None
        tqdm bar (``None``: on a terminal or in a notebook).

    Returns
    -------
    list of fitted estimators

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import fit_oracles
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> oracles = fit_oracles(LogisticRegression(), X, y, np.arange(60) < 5,
    ...                       n_models=3, random_state=0, progress=False)
    >>> len(oracles)
    3
    """
    return _fit_members(
        estimator,
        X,
        y,
        forget,
        n_models,
        random_state,
        n_jobs,
        spread,
        progress,
        kind="oracles",
    )


def fit_unlearned(
    estimator,
    X,
    y,
    forget,
    n_models: int = 8,
    random_state=None,
    n_jobs: int | None = None,
    *,
    spread: str = "auto",
    progress: bool | None = None,
) -> list:
    """Fit ``n_models`` models on the pool, each then unlearning the ``forget`` rows.

    Member ``k`` trains on all forget rows plus the retained rows of oracle
    ``k`` of :func:`fit_oracles` (same ``random_state``), through
    ``estimator.fit(X, y, forget=mask)``. An estimator whose ``fit`` takes
    no ``forget`` (a plain scikit-learn model) keeps the rows: the
    "do nothing" baseline.

    Parameters
    ----------
    estimator : estimator instance
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    forget : ndarray of bool, shape (n_samples,)
    n_models : int, default=8
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
    spread : {"auto", "subsample", "seed"}, default="auto"
    progress : bool, default=None

    Returns
    -------
    list of fitted estimators

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.metrics import fit_unlearned
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> models = fit_unlearned(UnlearningClassifier(LogisticRegression()), X, y,
    ...                        np.arange(60) < 5, n_models=2, random_state=0,
    ...                        progress=False)
    >>> [m.ledger_[-1].n_removed for m in models]
    [5, 5]
    """
    return _fit_members(
        estimator,
        X,
        y,
        forget,
        n_models,
        random_state,
        n_jobs,
        spread,
        progress,
        kind="unlearned",
    )


def _fit_members(
    estimator, X, y, forget, n_models, random_state, n_jobs, spread, progress, *, kind
) -> list:
    """The members of one ensemble of the plan, fitted in parallel.

    ``kind``: ``"oracles"`` (retained rows only), ``"unlearned"`` (with the
    forget rows, then unlearning them) or ``"do nothing"`` (with the forget
    rows, kept).
    """
    y, forget = _check_pool(X, y, forget)
    plan = ensemble_plan(estimator, forget, n_models, random_state, spread)
    tasks = []
    for r, s in zip(plan.retained, plan.seeds, strict=True):
        rows = np.flatnonzero(r if kind == "oracles" else r | forget)
        unlearn = forget[rows] if kind == "unlearned" else None
        tasks.append((estimator, X, y, rows, unlearn, s))
    return parallel_map(_fit_member, tasks, n_jobs=n_jobs, progress=progress, desc=kind)
