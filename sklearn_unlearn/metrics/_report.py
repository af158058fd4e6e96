"""One table for notebooks: utility, attacks, KLoM and distance per model.

:func:`unlearning_report` composes the metrics of this package; it computes
nothing of its own beyond bookkeeping (which reference models to fit once
and share between the compared models).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._distance import retrain_distance
from ._ensembles import (
    _fit_member,
    _is_stochastic,
    accepts_forget,
    fit_oracles,
    fit_unlearned,
)
from ._klom import klom_from_margins, klom_summary
from ._klom_power import fit_kept, klom_excess_p_value, klom_power
from ._lira import LiRA, ULiRA
from ._loss_attack import LossAttack
from ._margins import margins
from ._mia_base import MembershipAttack
from ._scorers import _plain_recipe
from ._shadow_attack import ShadowModelAttack

__all__ = ["NOISE_FLOOR", "unlearning_report"]

NOISE_FLOOR = "oracle (noise floor)"
_AUTO_KLOM_MODELS = 16
_ATTACK_NAMES = ("loss", "shadow", "lira")


def _concat(parts):
    """Row-wise concatenation of arrays, DataFrames or sparse matrices."""
    if any(hasattr(p, "iloc") for p in parts):
        return pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
    if any(sp.issparse(p) for p in parts):
        return sp.vstack(parts, format="csr")
    return np.concatenate([np.asarray(p) for p in parts])


def _check_rows(X, y, what):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y_{what} must be 1-dimensional, got shape {y.shape}.")
    if _num_samples(X) != len(y):
        raise ValueError(
            f"X_{what} has {_num_samples(X)} rows but y_{what} has {len(y)}."
        )
    if len(y) == 0:
        raise ValueError(f"X_{what} holds no rows.")
    return y


def _models(clf) -> dict:
    if isinstance(clf, Mapping):
        models = dict(clf)
        if not models:
            raise ValueError("clf is an empty mapping: give at least one model.")
        bad = [k for k in models if not isinstance(k, str)]
        if bad:
            raise TypeError(f"model names must be strings, got {bad[0]!r}.")
    else:
        models = {_label(clf): clf}
    for name, model in models.items():
        if not hasattr(model, "predict"):
            raise TypeError(f"model {name!r} is not an estimator: {model!r}.")
        check_is_fitted(model)
    return models


def _label(model) -> str:
    ledger = getattr(model, "ledger_", None)
    if ledger is not None and len(ledger):
        return str(ledger[-1].method)
    return type(model).__name__


def _attacks(attacks, random_state, n_jobs, progress) -> dict:
    if attacks is None:
        return {}
    if isinstance(attacks, str | MembershipAttack):
        attacks = [attacks]
    if not isinstance(attacks, Mapping | list | tuple):
        raise TypeError(
            "attacks must be a name, a MembershipAttack, or a list or dict of them, "
            f"got {type(attacks).__name__}."
        )
    if not isinstance(attacks, Mapping):
        named = {}
        for a in attacks:
            key = a if isinstance(a, str) else type(a).__name__
            named[key] = a
        attacks = named
    out = {}
    for name, attack in attacks.items():
        if isinstance(attack, str):
            if attack not in _ATTACK_NAMES:
                raise ValueError(
                    f"unknown attack {attack!r}: use one of {_ATTACK_NAMES} or a "
                    "MembershipAttack instance."
                )
            attack = {
                "loss": lambda: LossAttack(),
                "shadow": lambda: ShadowModelAttack(
                    random_state=random_state, n_jobs=n_jobs, progress=progress
                ),
                "lira": lambda: LiRA(
                    n_shadow=8,
                    online=False,
                    fix_variance=True,
                    random_state=random_state,
                    n_jobs=n_jobs,
                    progress=progress,
                ),
            }[attack]()
        if not isinstance(attack, MembershipAttack):
            raise TypeError(
                f"attack {name!r} must be a MembershipAttack or one of "
                f"{_ATTACK_NAMES}, got {type(attack).__name__}."
            )
        out[str(name)] = attack
    return out


def _is_fitted(attack) -> bool:
    return any(
        hasattr(attack, a) for a in ("shadow_models_", "attack_models_", "threshold_")
    )


class _Shared:
    """Reference models fitted once per training recipe and shared by all rows."""

    def __init__(self):
        self._store = {}

    def get(self, key, compute):
        key = joblib.hash(key)
        if key not in self._store:
            self._store[key] = compute()
        return self._store[key]


def unlearning_report(
    clf,
    X_forget,
    y_forget,
    X_test,
    y_test,
    *,
    X_retain=None,
    y_retain=None,
    reference=None,
    attacks=("loss",),
    klom: int | str | None = "auto",
    oracles=None,
    ensembles: Mapping | None = None,
    noise_floor: bool = True,
    scoring: str = "accuracy",
    n_bins: int | str = "auto",
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Compare fitted unlearners in one table: time, utility, attacks, KLoM, distance.

    One row per model. Every figure comes from a metric of
    :mod:`sklearn_unlearn.metrics`. Reference models (oracles, shadow
    models, the retrained reference) are fitted once, with one training
    recipe for the whole table: the plain fit (method replaced by
    retraining) of the first model that can forget (else of the first
    model). Compare models of one recipe in one table.

    * ``method``, ``update_s``, ``n_removed``: the last entry of the model's
      ledger (``update_s`` is NaN for a model without one, or whose last
      entry is its fit).
    * ``<split>_<scoring>``: ``scoring`` (a scikit-learn scorer name) on the
      held-out (``test``), forgotten (``forget``) and, when given, retained
      (``retain``) rows.
    * ``<attack>_roc_auc``, ``_balanced_accuracy``, ``_tpr_at_0.1pct_fpr``,
      ``_tpr_at_1pct_fpr``: :meth:`MembershipAttack.evaluate` on the
      forgotten rows (members) beside the held-out rows (non-members). An
      AUC near 0.5 means the attack cannot tell forgotten rows from rows the
      model never saw.
    * ``klom_<rows>_median`` / ``_p95`` (rows ``forget``, ``retain``,
      ``test``): :func:`klom` of each model's ensemble against an oracle
      ensemble (by default whenever ``X_retain`` is given). The ensembles
      (:func:`fit_unlearned`, :func:`fit_oracles`) train on the pool
      ``X_retain + X_forget``; the oracles are shared. The unlearned
      ensembles use ``random_state`` and the oracles ``random_state + 1``,
      so the two are independent: a perfect method then sits at the noise
      floor, not at 0. With ``noise_floor`` a row ``"oracle (noise
      floor)"`` is added: oracles drawn like the unlearned ensembles
      against the oracles (what ``Retrain`` gives).
    * ``klom_forget_p``: the one-sided p-value (Wilcoxon signed-rank, paired
      by forgotten row) that the model's KLoM exceeds the noise floor's.
      The model's ensemble and the floor's first oracle ensemble share
      seeds and retained halves, so row by row they differ only by what the
      model kept of the forgotten rows: a small value (below 0.01) means
      the model is distinguishable from retraining. The table's
      ``attrs["klom_power"]`` holds the same test for a do-nothing ensemble
      of the table's recipe; when even doing nothing is within the floor,
      KLoM has no power on this request and a warning says so.
    * ``ref_param_distance``, ``ref_disagreement``, ``ref_mean_kl``:
      :func:`retrain_distance` to ``reference`` on the forgotten rows (NaN
      when a model's parameters cannot be read, e.g. an ensemble).

    Parameters
    ----------
    clf : fitted classifier or mapping of str to fitted classifier
        The model(s) to report on: unlearners that forgot ``X_forget``, and
        baselines (a plain model trained on every row is "do nothing").
    X_forget : array-like of shape (n_forget, n_features)
        The rows the models were told to forget.
    y_forget : array-like of shape (n_forget,)
    X_test : array-like of shape (n_test, n_features)
        Held-out rows no model trained on.
    y_test : array-like of shape (n_test,)
    X_retain : array-like of shape (n_retain, n_features), default=None
        The rows the models still train on. Needed to fit shadow attacks,
        KLoM ensembles and ``reference="retrain"``.
    y_retain : array-like of shape (n_retain,), default=None
    reference : fitted classifier or "retrain", default=None
        The model to measure distances to; ``"retrain"`` fits the table's
        recipe on the retained rows. ``None``: no distance columns.
    attacks : str, MembershipAttack, list or dict of them, default=("loss",)
        ``"loss"`` (:class:`LossAttack`, calibrated on the held-out rows),
        ``"shadow"`` (:class:`ShadowModelAttack`), ``"lira"`` (offline
        :class:`LiRA`, 8 shadows, fixed variance), or instances. Attacks that
        need shadow models and are not fitted yet are fitted once, on the
        retained rows, with the table's recipe; an unfitted :class:`ULiRA`
        is fitted per model (its unlearned shadows follow the model's
        method; its oracles are shared), on the pool of all rows, with the
        forgotten and held-out rows as targets. ``None``: no attack columns.
    klom : int, "auto" or None, default="auto"
        Members per KLoM ensemble. ``"auto"``: ``len(oracles)`` when oracles
        are given, else 16 when ``X_retain`` is given and the models are
        classifiers but not nets (an ensemble of nets is that many training
        runs: ask for it with an integer), else no KLoM. ``None``: no KLoM.
    oracles : list of fitted classifiers, default=None
        A ready oracle ensemble (e.g. :func:`fit_oracles` on the pool
        ``X_retain + X_forget``), used for every model instead of fitting one.
    ensembles : mapping of str to list of fitted classifiers, default=None
        Ready unlearned ensembles, by model name; the others are fitted.
    noise_floor : bool, default=True
        Add the oracle-vs-oracle row when KLoM is computed.
    scoring : str, default="accuracy"
    n_bins : int or "auto", default="auto"
        KLoM's histogram bins; ``"auto"``: ``round(sqrt(n_models))`` between
        3 and 20 (3 for 8 models), as in :func:`make_klom_scorer`.
    random_state : int, default=0
        Seeds the ensembles and the attacks built from names.
    n_jobs : int, default=None
        joblib workers for ensembles and shadow models.
    progress : bool, default=None
        tqdm bars of the ensemble and shadow fits (``None``: on a terminal or
        in a notebook).

    Returns
    -------
    pandas.DataFrame
        Indexed by model name.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.metrics import unlearning_report
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> forget = np.arange(200) < 10
    >>> models = {
    ...     "do nothing": LogisticRegression().fit(X[:200], y[:200]),
    ...     "newton": UnlearningClassifier(LogisticRegression()).fit(
    ...         X[:200], y[:200], forget=forget),
    ... }
    >>> report = unlearning_report(models, X[:10], y[:10], X[200:], y[200:])
    >>> list(report.index), "loss_roc_auc" in report
    (['do nothing', 'newton'], True)
    """
    models = _models(clf)
    y_forget = _check_rows(X_forget, y_forget, "forget")
    y_test = _check_rows(X_test, y_test, "test")
    if (X_retain is None) != (y_retain is None):
        raise ValueError("give X_retain and y_retain together, or neither.")
    if X_retain is not None:
        y_retain = _check_rows(X_retain, y_retain, "retain")
    if oracles is not None:
        oracles = list(oracles)
        if len(oracles) < 2:
            raise ValueError("oracles must hold at least two fitted models.")
        if klom is None:
            klom = len(oracles)
    if isinstance(klom, str):
        if klom != "auto":
            raise ValueError(f"klom must be an integer, 'auto' or None, got {klom!r}.")
        klom = None
        if oracles is not None:
            klom = len(oracles)
        elif (
            X_retain is not None
            and all(hasattr(m, "classes_") for m in models.values())
            and not any(_is_stochastic(m) for m in models.values())
        ):
            klom = _AUTO_KLOM_MODELS
    if klom is not None and (int(klom) != klom or klom < 2):
        raise ValueError(
            f"klom must be an integer >= 2 (models per ensemble): {klom!r}."
        )
    if klom is not None and X_retain is None:
        raise ValueError(
            "KLoM ensembles train on the pool X_retain + X_forget: pass "
            "X_retain and y_retain."
        )
    if isinstance(reference, str) and reference != "retrain":
        raise ValueError(
            f"reference must be a fitted model or 'retrain', got {reference!r}."
        )
    if reference == "retrain" and X_retain is None:
        raise ValueError("reference='retrain' needs X_retain and y_retain.")
    ensembles = dict(ensembles or {})
    unknown = set(ensembles) - set(models)
    if unknown:
        raise ValueError(
            f"ensembles names models that are not compared: {sorted(unknown)}."
        )
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise TypeError(
            f"random_state must be an int (ensembles use it and the next "
            f"integer), got {random_state!r}."
        )
    attacks = _attacks(attacks, random_state, n_jobs, progress)
    scorer = get_scorer(scoring)

    X_att = _concat([X_forget, X_test])
    y_att = np.concatenate([y_forget, y_test])
    member = np.arange(len(y_att)) < len(y_forget)
    shared = _Shared()
    learners = [m for m in models.values() if accepts_forget(m)]
    shared.recipe = _plain_recipe((learners or list(models.values()))[0])
    ctx = dict(
        X_forget=X_forget,
        y_forget=y_forget,
        X_test=X_test,
        y_test=y_test,
        X_retain=X_retain,
        y_retain=y_retain,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
    )
    kl = None
    if klom is not None:
        kl = _KLoMContext(ctx, int(klom), n_bins, oracles, shared)

    rows = {}
    for name, model in models.items():
        row = _ledger_columns(model)
        parts = [("test", X_test, y_test), ("forget", X_forget, y_forget)]
        if X_retain is not None:
            parts.append(("retain", X_retain, y_retain))
        for part, Xp, yp in parts:
            row[f"{part}_{scoring}"] = float(scorer(model, Xp, yp))
        for a_name, attack in attacks.items():
            fitted = _fitted_attack(attack, model, ctx, shared)
            summary = fitted.evaluate(model, X_att, y_att, member)
            summary.pop("scores")
            row.update({f"{a_name}_{k}": v for k, v in summary.items()})
        if kl is not None:
            row.update(kl.summary(model, ensembles.get(name)))
        if reference is not None:
            row.update(_distance(model, reference, ctx, shared))
        rows[name] = row
    if kl is not None and noise_floor:
        rows[NOISE_FLOOR] = {"method": "oracle", **kl.noise_floor()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if kl is not None:
        power = kl.power()
        table.attrs["klom_power"] = power
        if not power.has_power:
            warnings.warn(power.explain(), UserWarning, stacklevel=2)
    return table


def _ledger_columns(model) -> dict:
    ledger = getattr(model, "ledger_", None)
    steps = getattr(model, "steps", None)
    if ledger is None and steps:  # a pipeline: its model keeps the ledger
        ledger = getattr(steps[-1][1], "ledger_", None)
    if ledger is None or not len(ledger):
        return {"method": "none", "update_s": np.nan, "n_removed": 0}
    last = ledger[-1]
    if last.operation == "fit":
        return {"method": last.method, "update_s": np.nan, "n_removed": 0}
    return {
        "method": last.method,
        "update_s": float(last.duration_s),
        "n_removed": int(last.n_removed),
    }


def _needs_retain(what):
    raise ValueError(f"{what} needs the retained rows: pass X_retain and y_retain.")


def _fitted_attack(attack, model, ctx, shared):
    """The attack ready to score ``model``: fitted here when it needs shadows."""
    if not attack.needs_shadows or _is_fitted(attack):
        return attack
    recipe = shared.recipe
    key = (joblib.hash(recipe), joblib.hash(attack.get_params()))
    online = isinstance(attack, ULiRA | LiRA) and attack.online
    if isinstance(attack, ULiRA) or not online:
        if ctx["X_retain"] is None:
            _needs_retain(f"fitting {type(attack).__name__}'s shadow models")
    if online:
        parts = [(ctx[f"X_{p}"], ctx[f"y_{p}"]) for p in ("retain", "forget", "test")]
        parts = [(X, y) for X, y in parts if X is not None]
        Xp = _concat([X for X, _ in parts])
        yp = np.concatenate([y for _, y in parts])
    if isinstance(attack, ULiRA):
        # targets: the forgotten and held-out rows; the oracles are shared
        targets = np.arange(len(yp)) >= len(ctx["y_retain"])
        first = shared.get(
            ("ulira", key), lambda: clone(attack).fit(recipe, Xp, yp, targets)
        )
        return clone(attack).fit(clone(model), Xp, yp, targets, oracles=first.oracles_)
    if online:
        return shared.get(("lira", key), lambda: clone(attack).fit(recipe, Xp, yp))
    return shared.get(
        ("shadow", key),
        lambda: clone(attack).fit(recipe, ctx["X_retain"], ctx["y_retain"]),
    )


def _distance(model, reference, ctx, shared) -> dict:
    if reference == "retrain":
        recipe = shared.recipe
        n = len(ctx["y_retain"])
        reference = shared.get(
            ("retrain", joblib.hash(recipe)),
            lambda: _fit_member(
                recipe,
                ctx["X_retain"],
                ctx["y_retain"],
                np.arange(n),
                None,
                ctx["random_state"],
            ),
        )
    try:
        d = retrain_distance(model, reference, ctx["X_forget"])
    except (TypeError, ValueError):  # parameters unreadable or of another shape
        d = dict.fromkeys(("param_distance", "disagreement", "mean_kl"), np.nan)
    return {f"ref_{k}": v for k, v in d.items()}


class _KLoMContext:
    """The pool, the rows KLoM is read on, and the shared oracle margins."""

    def __init__(self, ctx, n_models, n_bins, oracles, shared):
        self.ctx, self.n_models, self.n_bins = ctx, n_models, n_bins
        self.oracles, self.shared = oracles, shared
        self.X_pool = _concat([ctx["X_retain"], ctx["X_forget"]])
        self.y_pool = np.concatenate([ctx["y_retain"], ctx["y_forget"]])
        self.f_pool = np.arange(len(self.y_pool)) >= len(ctx["y_retain"])
        self.X_eval = _concat([ctx["X_forget"], ctx["X_retain"], ctx["X_test"]])
        self.y_eval = np.concatenate([ctx["y_forget"], ctx["y_retain"], ctx["y_test"]])
        sizes = np.cumsum([0, len(ctx["y_forget"]), len(ctx["y_retain"])])
        idx = np.arange(len(self.y_eval))
        self.groups = {
            "forget": idx < sizes[1],
            "retain": (idx >= sizes[1]) & (idx < sizes[2]),
            "test": idx >= sizes[2],
        }

    def _opts(self, offset):
        return dict(
            n_models=self.n_models,
            random_state=self.ctx["random_state"] + offset,
            n_jobs=self.ctx["n_jobs"],
            progress=self.ctx["progress"],
        )

    def _margins(self, models):
        return np.stack([margins(m, self.X_eval, self.y_eval) for m in models])

    def oracle_margins(self, recipe, offset=1):
        if offset == 1 and self.oracles is not None:
            return self.shared.get(
                ("given oracles",), lambda: self._margins(self.oracles)
            )
        return self.shared.get(
            ("oracles", joblib.hash(recipe), offset),
            lambda: self._margins(
                fit_oracles(
                    recipe, self.X_pool, self.y_pool, self.f_pool, **self._opts(offset)
                )
            ),
        )

    def _values(self, U):
        return klom_from_margins(
            U, self.oracle_margins(self.shared.recipe), n_bins=self.n_bins
        )

    def _summarise(self, values):
        return {f"klom_{k}": v for k, v in klom_summary(values, self.groups).items()}

    def _floor_values(self):
        recipe = self.shared.recipe
        return self.shared.get(
            ("floor values", joblib.hash(recipe)),
            lambda: self._values(self.oracle_margins(recipe, 0)),
        )

    def summary(self, model, ensemble=None):
        if ensemble is None:
            ensemble = fit_unlearned(
                clone(model), self.X_pool, self.y_pool, self.f_pool, **self._opts(0)
            )
        values = self._values(self._margins(ensemble))
        out = self._summarise(values)
        rows = self.groups["forget"]
        out["klom_forget_p"] = klom_excess_p_value(
            values[rows], self._floor_values()[rows]
        )
        return out

    def noise_floor(self):
        out = self._summarise(self._floor_values())
        out["klom_forget_p"] = 1.0
        return out

    def power(self):
        """The coupled do-nothing test (module ``_klom_power``) on the forget rows."""
        kept = fit_kept(
            self.shared.recipe, self.X_pool, self.y_pool, self.f_pool, **self._opts(0)
        )
        rows = self.groups["forget"]
        return klom_power(
            self._values(self._margins(kept))[rows], self._floor_values()[rows]
        )
