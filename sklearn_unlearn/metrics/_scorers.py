"""Scorers that judge forgetting inside GridSearchCV / RandomizedSearchCV.

Each scorer requests the ``forget`` mask through scikit-learn's metadata
routing (already requested for the user) and, on a test fold from
:class:`~sklearn_unlearn.model_selection.ForgetSplit`, treats the marked
rows as forgotten members and the others as held-out non-members. All are
"greater is better". Reference models that do not depend on the candidate
(oracles, retrained references, plain shadow models) are computed once per
split and cached, keyed by the split and the model recipe.

The training fold reaches a scorer through the candidate it scores: the
library's estimators keep weak references to the rows passed to ``fit``
(:mod:`sklearn_unlearn._training_fold`), alive while the search scores the
model it has just fitted. Nothing is process-wide, so searches run the same
on joblib's ``loky``, ``threading`` and ``dask`` (worker processes)
backends, and nothing holds the searched rows after the search. A pickle of
a scorer carries no row and no fitted model; copies of one scorer unpickled
in the same process share one cache, so reference models are computed once
per split in each worker process.
"""

from __future__ import annotations

import threading
import uuid
import warnings
import weakref
from collections import OrderedDict
from numbers import Integral

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.utils import _safe_indexing
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.validation import _num_samples

from ._distance import retrain_distance
from ._ensembles import (
    _fit_member,
    accepts_forget,
    fit_oracles,
    fit_unlearned,
    method_param,
)
from ._klom import auto_n_bins, klom_from_margins
from ._klom_power import fit_kept, klom_power
from ._lira import LiRA, ULiRA
from ._margins import margins
from ._shadow_attack import ShadowModelAttack
from ._split_context import split_context

__all__ = [
    "make_klom_scorer",
    "make_membership_scorer",
    "make_retrain_distance_scorer",
    "make_utility_scorer",
]

ROUTING_HELP = (
    "Turn metadata routing on with sklearn.set_config(enable_metadata_routing=True) "
    "and pass the mask to the search: search.fit(X, y, forget=mask). Without "
    "routing scikit-learn never hands a scorer the mask, and a forgetting score "
    "without it would be meaningless."
)
_SUBSETS = ("forget", "held_out", "retain")
_CACHE_SIZE = 16
_KEPT_CACHES = 8


class _Cache:
    """A small LRU cache computing each key once, also across threads."""

    def __init__(self, size=_CACHE_SIZE):
        self.size = size
        self._data = OrderedDict()
        self._lock = threading.Lock()
        self._pending = {}

    def __len__(self):
        return len(self._data)

    def _get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return True, self._data[key], None
            return False, None, self._pending.setdefault(key, threading.Lock())

    def get_or_compute(self, key, compute):
        """``(value, hit)``; a key being computed by another thread is awaited."""
        hit, value, pending = self._get(key)
        if hit:
            return value, True
        with pending:
            hit, value, _ = self._get(key)
            if hit:
                return value, True
            value = compute()
            with self._lock:
                self._data[key] = value
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
                self._pending.pop(key, None)
        return value, False


# a scorer's cache by its token: copies unpickled in one process share it
_CACHES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
# caches made by unpickling (in a worker) outlive the task's copy of the scorer
_KEPT: OrderedDict = OrderedDict()
_CACHES_LOCK = threading.Lock()


def _cache_for(token):
    """The cache of the scorer ``token`` in this process, made if none is alive.

    One made here (in a worker, by the first task's copy) is kept for the
    next tasks' copies, for the last ``_KEPT_CACHES`` scorers.
    """
    with _CACHES_LOCK:
        cache = _CACHES.get(token)
        if cache is None:
            cache = _Cache()
            _CACHES[token] = cache
            _KEPT[token] = cache
        if token in _KEPT:
            _KEPT.move_to_end(token)
        while len(_KEPT) > _KEPT_CACHES:
            _KEPT.popitem(last=False)
        return cache


def _plain_recipe(estimator):
    """An unfitted copy whose plain ``fit`` is the candidate's training recipe.

    An unlearning estimator's method does not change a plain fit, so it is
    replaced by ``"retrain"``; candidates differing only in the method then
    share reference models.
    """
    est = clone(estimator)
    param = method_param(est) if accepts_forget(est) else None
    if param is not None:
        est.set_params(**{param: "retrain"})
    return est


class _ForgetScorer:
    """Base: routing request, the mask's checks, a per-split cache."""

    def __init__(self):
        request = MetadataRequest(owner=self)
        request.score.add_request(param="forget", alias=True)
        self._metadata_request = request
        self._token = uuid.uuid4().hex
        self._cache = _Cache()
        with _CACHES_LOCK:
            _CACHES[self._token] = self._cache
        self.n_cache_hits_ = 0
        self.n_cache_misses_ = 0

    # -- pickling ---------------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_cache"]  # fitted reference models stay in this process
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("_cache", None)  # a pickle from before the shared caches
        self.__dict__.update(state)
        if "_token" not in self.__dict__:
            self._token = uuid.uuid4().hex
        self._cache = _cache_for(self._token)

    # -- routing ----------------------------------------------------------
    def get_metadata_routing(self):
        return self._metadata_request

    def set_score_request(self, **kwargs):
        """Change what the scorer requests (``forget`` is requested already).

        Returns
        -------
        self
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(param="forget", alias=True)
        for param, alias in kwargs.items():
            request.score.add_request(param=param, alias=alias)
        self._metadata_request = request
        return self

    # -- call -------------------------------------------------------------
    def __call__(self, estimator, X, y, forget=None, **kwargs):
        name = type(self).__name__
        if forget is None:
            raise ValueError(f"{name} received no forget mask. {ROUTING_HELP}")
        n = _num_samples(X)
        mask = np.asarray(forget)
        if mask.dtype != bool or mask.shape != (n,):
            raise ValueError(
                f"{name}: forget must be a boolean mask of length {n} (the test "
                f"fold), got dtype {mask.dtype} and shape {mask.shape}."
            )
        if not mask.any():
            raise ValueError(
                f"{name}: the test fold holds no forgotten rows; use ForgetSplit, "
                "whose test folds hold them beside held-out rows."
            )
        if mask.all():
            raise ValueError(f"{name}: the test fold holds no held-out rows.")
        return float(self._score(estimator, X, np.asarray(y), mask))

    # -- helpers ----------------------------------------------------------
    def _split(self, estimator, X, y, forget):
        return split_context(estimator, X, y, forget, type(self).__name__)

    def _retrained(self, estimator, ctx):
        """The candidate's recipe fitted on the fold's retained rows (cached)."""
        recipe = _plain_recipe(estimator)
        keep = np.flatnonzero(~ctx.forget_train)
        return self._cached(
            (ctx.key, joblib.hash(recipe)),
            lambda: _fit_member(recipe, ctx.X_train, ctx.y_train, keep, None, 0),
        )

    def _cached(self, key, compute):
        value, hit = self._cache.get_or_compute(key, compute)
        if hit:
            self.n_cache_hits_ += 1
        else:
            self.n_cache_misses_ += 1
        return value

    def _subset_rows(self, ctx, X, y, forget, subset):
        """Rows of the chosen group: test rows (forget/held_out) or retained."""
        if subset == "forget":
            return _safe_indexing(X, np.flatnonzero(forget)), y[forget]
        if subset == "held_out":
            return _safe_indexing(X, np.flatnonzero(~forget)), y[~forget]
        return ctx.retained()

    def __repr__(self):
        return f"{type(self).__name__}()"


class _UtilityScorer(_ForgetScorer):
    def __init__(self, scoring, subset):
        super().__init__()
        self.scoring = scoring
        self.subset = subset

    def _score(self, estimator, X, y, forget):
        rows = forget if self.subset == "forget" else ~forget
        return get_scorer(self.scoring)(
            estimator, _safe_indexing(X, np.flatnonzero(rows)), y[rows]
        )


def make_utility_scorer(scoring: str = "accuracy", subset: str = "held_out"):
    """A scorer of utility on the held-out (or the forgotten) rows of a test fold.

    Parameters
    ----------
    scoring : str, default="accuracy"
        Any scikit-learn scorer name.
    subset : {"held_out", "forget"}, default="held_out"

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, forget=mask)``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import make_utility_scorer
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> clf = LogisticRegression().fit(X[:40], y[:40])
    >>> scorer = make_utility_scorer()
    >>> 0 <= scorer(clf, X[30:], y[30:], forget=np.arange(30) < 10) <= 1
    True
    """
    if subset not in ("held_out", "forget"):
        raise ValueError(f"subset must be 'held_out' or 'forget', got {subset!r}.")
    get_scorer(scoring)  # fail early on an unknown name
    return _UtilityScorer(scoring, subset)


_MIA_METRICS = {
    "roc_auc": lambda s: 1 - 2 * abs(s["roc_auc"] - 0.5),
    "balanced_accuracy": lambda s: 1 - 2 * abs(s["balanced_accuracy"] - 0.5),
    "tpr_at_1pct_fpr": lambda s: 0.01 - s["tpr_at_1pct_fpr"],
    "tpr_at_0.1pct_fpr": lambda s: 0.001 - s["tpr_at_0.1pct_fpr"],
}


_MIA_RAW = {
    "roc_auc": lambda s: s["roc_auc"],
    "balanced_accuracy": lambda s: s["balanced_accuracy"],
    "tpr_at_1pct_fpr": lambda s: s["tpr_at_1pct_fpr"],
    "tpr_at_0.1pct_fpr": lambda s: s["tpr_at_0.1pct_fpr"],
}


class _MembershipScorer(_ForgetScorer):
    def __init__(self, attack, metric, target="chance"):
        super().__init__()
        self.attack = attack
        self.metric = metric
        self.target = target

    def _attack_for(self, estimator, X, y, forget):
        attack = self.attack
        fitted = hasattr(attack, "shadow_models_") or hasattr(attack, "attack_models_")
        if not attack.needs_shadows or (fitted and not isinstance(attack, ULiRA)):
            return attack
        ctx = self._split(estimator, X, y, forget)
        recipe = _plain_recipe(estimator)
        base_key = (ctx.key, joblib.hash(recipe), joblib.hash(attack.get_params()))
        if isinstance(attack, ShadowModelAttack):
            # the attacker's data: the fold's retained rows, disjoint from the test

            def fit_shadow():
                return clone(attack).fit(recipe, *ctx.retained())

            return self._cached(base_key, fit_shadow)
        X_pool, y_pool, in_test = ctx.pool()
        if isinstance(attack, LiRA):
            return self._cached(
                base_key, lambda: clone(attack).fit(recipe, X_pool, y_pool)
            )
        first = self._cached(
            base_key,
            lambda: clone(attack).fit(recipe, X_pool, y_pool, in_test),
        )
        # unlearned shadows depend on the candidate; the oracles do not
        return clone(attack).fit(
            clone(estimator), X_pool, y_pool, in_test, oracles=first.oracles_
        )

    def _score(self, estimator, X, y, forget):
        attack = self._attack_for(estimator, X, y, forget)
        summary = attack.evaluate(estimator, X, y, forget)
        if self.target == "chance":
            return _MIA_METRICS[self.metric](summary)
        # the attack's figure on the model retrained without the rows
        reference = self._retrained(estimator, self._split(estimator, X, y, forget))
        ref_summary = attack.evaluate(reference, X, y, forget)
        raw = _MIA_RAW[self.metric]
        return -abs(raw(summary) - raw(ref_summary))


def make_membership_scorer(attack, metric: str = "roc_auc", target: str = "retrain"):
    """A scorer rewarding models an attack cannot tell from a retrained one.

    On a :class:`~sklearn_unlearn.model_selection.ForgetSplit` test fold the
    attack scores every row; forgotten rows are the members, held-out rows
    the non-members, and ``m`` is the attack's figure: the AUC
    (``"roc_auc"``), the balanced accuracy (``"balanced_accuracy"``) or the
    TPR at a false-positive-rate level (``"tpr_at_1pct_fpr"``,
    ``"tpr_at_0.1pct_fpr"``).

    By default (``target="retrain"``) the score is ``-|m - m_ref|``, the
    distance of ``m`` from the same figure on the model retrained without
    the forgotten rows (fitted once per split, shared by all candidates):
    the yardstick of unlearning is "indistinguishable from retraining". When
    the forgotten rows are not a random sample (e.g. whole clusters) a
    retrained model tells them apart from held-out rows too, and closeness
    to chance would reward a model that forgot nothing. ``target="chance"``
    scores ``1 - 2|AUC - 0.5|``, ``1 - 2|BA - 0.5|`` or ``level - TPR``
    instead: 1 (or 0) when the attack cannot tell members from held-out
    rows; it needs no retrained model and works outside a search.

    Attacks that need shadow models and are not fitted yet are fitted once
    per split from the split's data (ShadowModelAttack: the fold's
    retained rows; LiRA: all rows); U-LiRA's unlearned shadows follow each
    candidate, its oracles are shared. In a search with ``n_jobs > 1`` this
    happens once per split in each worker process.

    Parameters
    ----------
    attack : MembershipAttack
        :class:`LossAttack`, :class:`ShadowModelAttack`, :class:`LiRA` or
        :class:`ULiRA`.
    metric : {"roc_auc", "balanced_accuracy", "tpr_at_1pct_fpr", \
"tpr_at_0.1pct_fpr"}, default="roc_auc"
    target : {"retrain", "chance"}, default="retrain"
        What the attack's figure is compared with.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, forget=mask)``
        ``forget`` is requested through metadata routing.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import LossAttack, make_membership_scorer
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = LogisticRegression().fit(X[50:], y[50:])  # never saw X[:50]
    >>> scorer = make_membership_scorer(LossAttack(), target="chance")
    >>> 0.6 < scorer(clf, X[:50], y[:50], forget=np.arange(50) < 25) <= 1
    True
    """
    if metric not in _MIA_METRICS:
        raise ValueError(
            f"metric must be one of {sorted(_MIA_METRICS)}, got {metric!r}."
        )
    if not hasattr(attack, "evaluate"):
        raise TypeError(
            f"attack must be a MembershipAttack, got {type(attack).__name__}."
        )
    if target not in ("chance", "retrain"):
        raise ValueError(f"target must be 'chance' or 'retrain', got {target!r}.")
    return _MembershipScorer(attack, metric, target)


class _KLoMScorer(_ForgetScorer):
    def __init__(
        self,
        n_models,
        n_bins,
        subset,
        statistic,
        random_state,
        n_jobs,
        spread,
        check_power=True,
        progress=False,
    ):
        super().__init__()
        self.n_models = n_models
        self.n_bins = n_bins
        self.subset = subset
        self.statistic = statistic
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.spread = spread
        self.check_power = check_power
        self.progress = progress

    @staticmethod
    def _margins(models, X, y):
        return np.stack([margins(m, X, y) for m in models])

    def _score(self, estimator, X, y, forget):
        ctx = self._split(estimator, X, y, forget)
        Xp, yp, fp = ctx.X_train, ctx.y_train, ctx.forget_train
        Xe, ye = self._subset_rows(ctx, X, y, forget, self.subset)
        opts = dict(
            n_models=self.n_models,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            spread=self.spread,
            progress=self.progress,
        )
        recipe = _plain_recipe(estimator)
        key = (
            ctx.key,
            joblib.hash(recipe),
            self.subset,
            self.n_models,
            self.random_state,
            self.spread,
        )

        def oracle_margins():
            return self._margins(fit_oracles(recipe, Xp, yp, fp, **opts), Xe, ye)

        O = self._cached(key, oracle_margins)
        n_bins = auto_n_bins(self.n_models) if self.n_bins == "auto" else self.n_bins
        if self.check_power:

            def power():
                # coupled: the floor's oracles and doing nothing share halves
                other = dict(opts, random_state=self.random_state + 1)
                floor = fit_oracles(recipe, Xp, yp, fp, **other)
                kept = fit_kept(recipe, Xp, yp, fp, **other)
                return klom_power(
                    klom_from_margins(self._margins(kept, Xe, ye), O, n_bins=n_bins),
                    klom_from_margins(self._margins(floor, Xe, ye), O, n_bins=n_bins),
                )

            verdict = self._cached(key + ("power",), power)
            if not verdict.has_power:
                warnings.warn(
                    f"{verdict.explain()} The score is NaN (check_power=True).",
                    UserWarning,
                    stacklevel=3,
                )
                return np.nan
        models = fit_unlearned(clone(estimator), Xp, yp, fp, **opts)
        U = self._margins(models, Xe, ye)
        values = klom_from_margins(U, O, n_bins=n_bins)
        stat = (
            np.median(values)
            if self.statistic == "median"
            else np.percentile(values, 95)
        )
        return -stat


def make_klom_scorer(
    n_models: int = 16,
    n_bins: int | str = "auto",
    subset: str = "forget",
    statistic: str = "median",
    random_state: int = 0,
    n_jobs: int | None = None,
    spread: str = "auto",
    check_power: bool = True,
    progress: bool | None = False,
):
    """A scorer ``-KLoM``: forgetting measured against oracle ensembles.

    For the candidate, ``n_models`` copies are trained on the split's
    training fold and unlearn its forget rows (:func:`fit_unlearned`); the
    oracles (:func:`fit_oracles`, same ``random_state``, so paired halves)
    are computed once per split and shared by all candidates (in a search
    with ``n_jobs > 1``: once per split in each worker process). KLoM
    (:func:`klom`) is taken on the chosen rows and summarised by its median
    or 95th percentile. Needs the split's training fold, which the candidate
    recorded at ``fit``, and test folds holding the same rows to forget
    (:class:`~sklearn_unlearn.model_selection.ForgetSplit`'s); any joblib
    backend works.

    Because the ensembles are paired, ``Retrain`` scores exactly 0; an
    unlearner as good as retraining but with other randomness scores at the
    noise floor of :func:`klom` (two independent oracle ensembles).

    **Power.** A request that barely changes the model (a random 1-5% of a
    convex model's rows) leaves a model that forgot nothing within the noise
    of retraining; KLoM then cannot rank candidates, and a number would
    only look like a ranking. With ``check_power`` each split is tested once
    (shared by the candidates): a do-nothing ensemble and a second oracle
    ensemble, drawn with the same seeds and halves, are compared with the
    oracles row by row (one-sided Wilcoxon signed-rank test, p < 0.01). A
    split without power scores NaN for every candidate, with a warning
    saying why; scikit-learn's searches rank NaN last and warn that scores
    are non-finite. Measured on the breast cancer data (logistic regression,
    5% requests, 3 splits): whole clusters had power in every split with 8,
    16 or 32 models; a random 5% in 1 of 3 splits with 8 models and 2 of 3
    with 16 (``benchmarks/bench_evaluation.py`` reports the verdicts on the
    benchmark tables).

    Parameters
    ----------
    n_models : int, default=16
        Models per ensemble (unlearned and oracle); 16 gives 4 bins.
    n_bins : int or "auto", default="auto"
        Histogram bins. ``"auto"``: ``round(sqrt(n_models))``, between 3 and
        20 (3 bins for 8 models, 4 for 16, 10 for 100, 20 from 400).
        :func:`klom`'s 20 bins suit ensembles of hundreds of models: with 8
        margins per row most bins are empty, KL is dominated by the 1e-5
        floor and every candidate that is not bit-identical to the oracles
        scores about the same (measured on the breast cancer data, a cluster
        request and logistic regression with 8 models: doing nothing scores
        1.4-1.7 times the noise floor with 20 bins, 20-86 times with 3).
        With 2 bins doing nothing often ties with retraining at 0.
    subset : {"forget", "held_out", "retain"}, default="forget"
    statistic : {"median", "p95"}, default="median"
    random_state : int, default=0
    n_jobs : int, default=None
        Parallel ensemble fits (joblib).
    spread : {"auto", "subsample", "seed"}, default="auto"
    check_power : bool, default=True
        Test once per split whether KLoM can tell doing nothing from
        retraining; score NaN (and warn) where it cannot. It costs two more
        ensembles per split (not per candidate).
    progress : bool or None, default=False
        tqdm bars (``tqdm.auto``: widgets in a notebook) of the ensemble
        fits; ``None``: on a terminal or in a notebook.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, forget=mask)``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn import set_config
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.metrics import make_klom_scorer
    >>> from sklearn_unlearn.model_selection import ForgetSplit
    >>> X, y = make_classification(n_samples=120, random_state=0)
    >>> forget = np.arange(120) < 6
    >>> set_config(enable_metadata_routing=True)
    >>> clf = UnlearningClassifier(LogisticRegression(), method="retrain")
    >>> res = cross_validate(clf, X, y, cv=ForgetSplit(2, random_state=0),
    ...                      scoring=make_klom_scorer(n_models=4,
    ...                                               check_power=False),
    ...                      params={"forget": forget})
    >>> set_config(enable_metadata_routing=False)
    >>> res["test_score"].shape
    (2,)
    """
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, got {subset!r}.")
    if statistic not in ("median", "p95"):
        raise ValueError(f"statistic must be 'median' or 'p95', got {statistic!r}.")
    if n_bins != "auto" and (
        isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1
    ):
        raise ValueError(f"n_bins must be 'auto' or an integer >= 1, got {n_bins!r}.")
    return _KLoMScorer(
        n_models,
        n_bins,
        subset,
        statistic,
        random_state,
        n_jobs,
        spread,
        check_power=bool(check_power),
        progress=progress,
    )


class _RetrainDistanceScorer(_ForgetScorer):
    def __init__(self, metric, subset):
        super().__init__()
        self.metric = metric
        self.subset = subset

    def _score(self, estimator, X, y, forget):
        ctx = self._split(estimator, X, y, forget)
        reference = self._retrained(estimator, ctx)
        Xe, _ = self._subset_rows(ctx, X, y, forget, self.subset)
        return -retrain_distance(estimator, reference, Xe)[self.metric]


def make_retrain_distance_scorer(metric: str = "mean_kl", subset: str = "forget"):
    """A scorer ``-distance`` to the model retrained without the forget rows.

    The reference is fitted once per split (the candidate's recipe on the
    training fold's retained rows) and shared by all candidates; in a search
    with ``n_jobs > 1``, once per split in each worker process.

    Parameters
    ----------
    metric : {"mean_kl", "disagreement", "param_distance"}, default="mean_kl"
        See :func:`retrain_distance`.
    subset : {"forget", "held_out", "retain"}, default="forget"
        Rows on which predictions are compared.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, forget=mask)``

    Examples
    --------
    >>> from sklearn_unlearn.metrics import make_retrain_distance_scorer
    >>> make_retrain_distance_scorer("disagreement")
    _RetrainDistanceScorer()
    """
    if metric not in ("mean_kl", "disagreement", "param_distance"):
        raise ValueError(
            "metric must be 'mean_kl', 'disagreement' or 'param_distance', got "
            f"{metric!r}."
        )
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, got {subset!r}.")
    return _RetrainDistanceScorer(metric, subset)
