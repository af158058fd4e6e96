"""Likelihood-ratio attacks: LiRA (Carlini et al., 2022) and U-LiRA (Hayes et al.).

Both fit a Gaussian per row to the margins (:func:`margins`, the logit of
the true class's confidence, LiRA's statistic) of shadow models that did
("in") and did not ("out") have the row, and score the target's margin by
the likelihood ratio (online) or by the one-sided test against "out" alone
(offline). Each row is "in" for exactly half of the shadows, as in LiRA's
reference code.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from sklearn.utils import _safe_indexing, check_random_state

from ._ensembles import _fit_member
from ._margins import margins
from ._mia_base import MembershipAttack, PoolIndex, _check_rows
from ._parallel import parallel_map

__all__ = ["LiRA", "ULiRA"]

MIN_STD = 1e-3  # margins of saturated models can be constant across shadows


def balanced_keep(n_shadow: int, n: int, rng) -> np.ndarray:
    """``(n_shadow, n)`` mask; every column is True in exactly ``n_shadow // 2`` rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics._lira import balanced_keep
    >>> balanced_keep(4, 5, np.random.RandomState(0)).sum(axis=0)
    array([2, 2, 2, 2, 2])
    """
    order = rng.uniform(size=(n_shadow, n)).argsort(axis=0)
    return order < n_shadow // 2


def _stats(S, mask, fix_variance):
    cnt = mask.sum(axis=0)
    mean = np.where(cnt > 0, (S * mask).sum(axis=0) / np.maximum(cnt, 1), np.nan)
    dev = np.where(mask, S - mean, 0.0)
    var = (dev**2).sum(axis=0) / np.maximum(cnt, 1)
    if fix_variance:
        var = np.full_like(var, (dev**2).sum() / max(cnt.sum(), 1))
    return mean, np.maximum(np.sqrt(var), MIN_STD)


def likelihood_ratio_scores(m, S, is_in, is_out, *, online=True, fix_variance=False):
    """LiRA's per-row test of the target margin ``m`` against shadow margins ``S``.

    Parameters
    ----------
    m : ndarray of shape (n_rows,)
        The target model's margins.
    S : ndarray of shape (n_shadow, n_rows)
        The shadow models' margins.
    is_in, is_out : ndarray of bool, shape (n_shadow, n_rows)
        Which shadow margins form the "in" and the "out" sample of each row.
    online : bool, default=True
        ``log N(m; in) - log N(m; out)``; offline: ``log P(Z_out <= m)``.
    fix_variance : bool, default=False
        One variance for all rows (LiRA's advice for few shadows).

    Returns
    -------
    ndarray of shape (n_rows,)
        Higher means "member".

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics._lira import likelihood_ratio_scores
    >>> S = np.array([[3.0], [3.2], [0.0], [0.2]])
    >>> inn = np.array([[True], [True], [False], [False]])
    >>> likelihood_ratio_scores(np.array([3.1]), S, inn, ~inn)[0] > 0
    np.True_
    """
    mu_out, sd_out = _stats(S, is_out, fix_variance)
    if np.any(is_out.sum(axis=0) == 0):
        raise ValueError("some rows have no 'out' shadow model.")
    if not online:
        return norm.logcdf((m - mu_out) / sd_out)
    if np.any(is_in.sum(axis=0) == 0):
        raise ValueError("some rows have no 'in' shadow model: online LiRA needs one.")
    mu_in, sd_in = _stats(S, is_in, fix_variance)
    return norm.logpdf(m, mu_in, sd_in) - norm.logpdf(m, mu_out, sd_out)


class _LikelihoodAttack(MembershipAttack):
    needs_shadows = True

    def _threshold(self):
        # online: likelihood ratio > 1; offline: margin above the "out" median
        return 0.0 if self.online else float(np.log(0.5))

    def _check_n_shadow(self):
        k = int(self.n_shadow)
        if k != self.n_shadow or k < 2 or (self.online and k < 4):
            raise ValueError(
                "n_shadow must be an integer >= 2 (>= 4 online), got "
                f"{self.n_shadow!r}."
            )
        return k

    def _shadow_margins(self, models, X, y):
        return np.stack([margins(s, X, y) for s in models])


class LiRA(_LikelihoodAttack):
    """The likelihood-ratio attack (Carlini et al., 2022), online or offline.

    ``fit`` trains ``n_shadow`` models like the target, each on a random
    half of the pool, so that every pool row is "in" for half of them.
    ``score_samples`` fits, per row, Gaussians to the shadow margins with
    and without the row; online it returns the log likelihood ratio of the
    target's margin, offline the log probability that an "out" margin is
    not larger (only "out" shadows are used; rows outside the pool can be
    scored too).

    Parameters
    ----------
    n_shadow : int, default=16
    online : bool, default=True
    fix_variance : bool, default=False
        One variance for all rows, as LiRA advises with few shadows.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
    progress : bool, default=None

    Attributes
    ----------
    shadow_models_ : list of fitted estimators
    keep_ : ndarray of bool, shape (n_shadow, n_pool)
        Which pool rows each shadow trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import LiRA
    >>> X, y = make_classification(n_samples=80, random_state=0)
    >>> attack = LiRA(n_shadow=4, random_state=0, progress=False)
    >>> attack = attack.fit(LogisticRegression(), X, y)
    >>> target = LogisticRegression().fit(X[:40], y[:40])
    >>> attack.score_samples(target, X, y).shape
    (80,)
    """

    def __init__(
        self,
        n_shadow: int = 16,
        online: bool = True,
        fix_variance: bool = False,
        random_state=None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ):
        self.n_shadow = n_shadow
        self.online = online
        self.fix_variance = fix_variance
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def fit(self, estimator, X, y):
        """Train the shadow models on balanced random halves of the pool.

        Parameters
        ----------
        estimator : estimator instance
            The target's recipe, cloned per shadow.
        X : array-like of shape (n_pool, n_features)
            Every row the attack may later be asked about (online).
        y : array-like of shape (n_pool,)

        Returns
        -------
        self : LiRA
        """
        k = self._check_n_shadow()
        y, n = _check_rows(X, y)
        rng = check_random_state(self.random_state)
        keep = balanced_keep(k, n, rng)
        seeds = rng.randint(0, 2**31 - 1, size=k)
        tasks = [
            (estimator, X, y, np.flatnonzero(keep[s]), None, int(seeds[s]))
            for s in range(k)
        ]
        self.shadow_models_ = parallel_map(
            _fit_member,
            tasks,
            n_jobs=self.n_jobs,
            progress=self.progress,
            desc="LiRA shadows",
        )
        self.keep_ = keep
        self._pool = PoolIndex(X, y)
        return self

    def score_samples(self, model, X, y) -> np.ndarray:
        """Per-row likelihood-ratio membership score (higher = member).

        Parameters
        ----------
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        self._check_fitted("shadow_models_")
        y = np.asarray(y)
        m = margins(model, X, y)
        S = self._shadow_margins(self.shadow_models_, X, y)
        pos = self._pool.lookup(X, y)
        if self.online and np.any(pos < 0):
            raise ValueError(
                f"{int(np.sum(pos < 0))} rows are not in the pool LiRA was fitted "
                "on; online LiRA needs shadows trained with each row (fit on a pool "
                "holding them, or use online=False)."
            )
        is_in = np.where(pos >= 0, self.keep_[:, np.maximum(pos, 0)], False)
        return likelihood_ratio_scores(
            m, S, is_in, ~is_in, online=self.online, fix_variance=self.fix_variance
        )


class ULiRA(_LikelihoodAttack):
    """U-LiRA (Hayes et al., 2024): LiRA against unlearned vs retrained models.

    ``fit`` trains, for each of ``n_shadow`` shadows, a model on a random
    half of the non-target rows plus a balanced half of the target rows, and
    unlearns those target rows with the estimator's own method
    (``fit(X, y, forget=mask)``): the "in" sample of a target row comes from
    the shadows that saw and then forgot it. The "out" sample comes from
    oracles retrained on the same non-target half without any target row.
    A perfect unlearning method makes the two indistinguishable (AUC 0.5);
    an estimator without ``forget`` (the "do nothing" baseline) makes this
    plain LiRA.

    Parameters
    ----------
    n_shadow : int, default=8
    online : bool, default=True
    fix_variance : bool, default=False
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
    progress : bool, default=None

    Attributes
    ----------
    shadow_models_ : list of fitted estimators
        The unlearned shadows.
    oracles_ : list of fitted estimators
        The retrained shadows; they depend only on the pool, the targets, the
        estimator's plain fit and ``random_state``, so they can be passed to
        another ``fit`` (e.g. for the next candidate of a search).
    keep_ : ndarray of bool, shape (n_shadow, n_targets)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.metrics import ULiRA
    >>> X, y = make_classification(n_samples=80, random_state=0)
    >>> targets = np.arange(80) < 10
    >>> clf = UnlearningClassifier(LogisticRegression(), method="newton")
    >>> attack = ULiRA(n_shadow=4, random_state=0, progress=False)
    >>> attack = attack.fit(clf, X, y, targets)
    >>> target = clf.fit(X, y, forget=np.arange(80) < 5)
    >>> attack.score_samples(target, X[:10], y[:10]).shape
    (10,)
    """

    def __init__(
        self,
        n_shadow: int = 8,
        online: bool = True,
        fix_variance: bool = False,
        random_state=None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ):
        self.n_shadow = n_shadow
        self.online = online
        self.fix_variance = fix_variance
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def fit(self, estimator, X, y, targets, *, oracles=None):
        """Train the unlearned shadows (and the oracles unless given).

        Parameters
        ----------
        estimator : estimator instance
            The target's recipe including its unlearning method.
        X : array-like of shape (n_pool, n_features)
        y : array-like of shape (n_pool,)
        targets : ndarray of bool, shape (n_pool,)
            The rows the attack will be asked about (forgotten and held-out
            rows of the target).
        oracles : list of fitted estimators, default=None
            ``oracles_`` of an earlier fit with the same pool, targets,
            ``n_shadow`` and ``random_state``.

        Returns
        -------
        self : ULiRA
        """
        k = self._check_n_shadow()
        y, n = _check_rows(X, y)
        targets = np.asarray(targets)
        if targets.dtype != bool or targets.shape != (n,):
            raise ValueError(f"targets must be a boolean mask of length {n}.")
        if not targets.any() or targets.all():
            raise ValueError("targets must mark some rows, but not all of them.")
        rng = check_random_state(self.random_state)
        t_idx, r_idx = np.flatnonzero(targets), np.flatnonzero(~targets)
        keep = balanced_keep(k, len(t_idx), rng)
        seeds = rng.randint(0, 2**31 - 1, size=k)
        halves = [
            rng.choice(r_idx, size=len(r_idx) // 2, replace=False) for _ in range(k)
        ]
        if oracles is not None and len(oracles) != k:
            raise ValueError(f"{len(oracles)} oracles were given for {k} shadows.")
        tasks = []
        for s in range(k):
            rows = np.sort(np.concatenate([halves[s], t_idx[keep[s]]]))
            tasks.append((estimator, X, y, rows, targets[rows], int(seeds[s])))
        if oracles is None:
            tasks += [
                (estimator, X, y, np.sort(halves[s]), None, int(seeds[s]))
                for s in range(k)
            ]
        models = parallel_map(
            _fit_member,
            tasks,
            n_jobs=self.n_jobs,
            progress=self.progress,
            desc="U-LiRA shadows",
        )
        self.shadow_models_ = models[:k]
        self.oracles_ = list(oracles) if oracles is not None else models[k:]
        self.keep_ = keep
        self._pool = PoolIndex(_safe_indexing(X, t_idx), y[t_idx])
        return self

    def score_samples(self, model, X, y) -> np.ndarray:
        """Per-row score of "unlearned" against "retrained" (higher = unlearned).

        Parameters
        ----------
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
            Target rows given to ``fit``.
        y : array-like of shape (n_rows,)

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        self._check_fitted("shadow_models_")
        y = np.asarray(y)
        pos = self._pool.lookup(X, y)
        if np.any(pos < 0):
            raise ValueError(
                f"{int(np.sum(pos < 0))} rows are not among the targets ULiRA was "
                "fitted for."
            )
        m = margins(model, X, y)
        S_u = self._shadow_margins(self.shadow_models_, X, y)
        S_o = self._shadow_margins(self.oracles_, X, y)
        S = np.concatenate([S_u, S_o])
        is_in = np.concatenate([self.keep_[:, pos], np.zeros_like(S_o, dtype=bool)])
        is_out = np.concatenate(
            [np.zeros_like(S_u, dtype=bool), np.ones_like(S_o, dtype=bool)]
        )
        return likelihood_ratio_scores(
            m, S, is_in, is_out, online=self.online, fix_variance=self.fix_variance
        )
