"""A scikit-learn Pipeline whose preprocessing forgets rows together with its model.

:class:`UnlearnPipeline` adds ``unlearn``, ``relabel`` and ``update`` to
:class:`sklearn.pipeline.Pipeline`, the way imbalanced-learn's pipeline adds
``fit_resample``: as ordinary methods, available when the last step has them.
"""

from __future__ import annotations

import inspect
import warnings
from collections import Counter, defaultdict

import numpy as np
from sklearn import get_config
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._fingerprint import RowMultiset, fingerprint_rows
from .preprocessing import (
    PreprocessingRecord,
    PreprocessingStateWarning,
    affine_map_is_identity,
    downdate_preprocessing,
)
from .preprocessing._tree import label_dependence_notes

__all__ = ["UnlearnPipeline", "make_pipeline"]


def _final_estimator_has(attr):
    def check(self):
        return hasattr(self._final_estimator, attr)

    return check


def _num_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


class UnlearnPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that can forget training rows.

    Same constructor, same behaviour as scikit-learn's ``Pipeline``; when the
    last step is an unlearning estimator (such as
    :class:`~sklearn_unlearn.UnlearningClassifier`) it also offers
    ``unlearn``, ``relabel`` and ``update``, which change the fitted pipeline
    in place as if it had been fitted without (or with) some rows:

    1. the fitted preprocessing (every step but the last) is downdated with
       :func:`~sklearn_unlearn.preprocessing.downdate_preprocessing`: each
       ``StandardScaler`` gets exactly the statistics a refit on the
       remaining rows gives, and the affine map ``M`` between the old and
       new features is computed;
    2. the last step re-expresses its model in the new features (``M``) and
       takes its own exact update, on the rows transformed by the new
       preprocessing;
    3. only if that succeeded are the new preprocessing steps swapped in.
       On any error the pipeline is exactly as before.

    Steps whose state cannot be downdated (imputers' medians, categories
    seen only in forgotten rows, unknown transformers) are named in
    ``preprocessing_notes_``, and a :class:`PreprocessingStateWarning` is
    raised the first time this happens after ``fit``.

    Parameters
    ----------
    steps : list of tuples
        ``(name, estimator)`` pairs, as for ``Pipeline``.
    transform_input : list of str, default=None
        As for ``Pipeline`` (metadata routing only).
    memory : str or object with the joblib.Memory interface, default=None
        As for ``Pipeline``.
    verbose : bool, default=False
        As for ``Pipeline``.

    Attributes
    ----------
    preprocessing_record_ : PreprocessingRecord or None
        Aggregate counts of the training rows that the preprocessing needs
        to be downdated (never the rows); ``None`` without preprocessing.
    fingerprints_ : RowMultiset
        Fingerprints of the raw training rows and their weights, to check
        requests before anything changes.
    preprocessing_notes_ : list of str
        Every distinct note on preprocessing state that still depends on
        forgotten rows, in the order they arose.
    named_steps : Bunch
        As for ``Pipeline``.

    See Also
    --------
    make_pipeline : Build an ``UnlearnPipeline`` without naming the steps.
    sklearn_unlearn.preprocessing.downdate_preprocessing

    Examples
    --------
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.datasets import load_german_credit
    >>> from sklearn_unlearn.pipeline import make_pipeline
    >>> data = load_german_credit(as_frame=True)
    >>> X, y = data.data, data.target
    >>> pipe = make_pipeline(
    ...     make_column_transformer(
    ...         (StandardScaler(), data.numerical_features),
    ...         (OneHotEncoder(handle_unknown="ignore"), data.categorical_features),
    ...     ),
    ...     UnlearningClassifier(LogisticRegression()),
    ... ).fit(X, y)
    >>> pipe = pipe.unlearn(X[:10], y[:10])
    >>> scaler = pipe[0].named_transformers_["standardscaler"]
    >>> scaler.n_samples_seen_, pipe.preprocessing_record_.n_rows
    (np.float64(990.0), 990)
    """

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, **params):
        """Fit the pipeline, then record what its preprocessing needs to forget.

        Parameters
        ----------
        X : iterable
            Training data, as for ``Pipeline.fit``.
        y : iterable, default=None
            Training targets.
        **params : dict of str -> object
            As for ``Pipeline.fit``. The row weights are the
            ``sample_weight`` given to any step (they must all be the same
            array). ``forget`` (or ``<last step>__forget``), a boolean mask
            of rows, is honoured by the whole pipeline: fit on every row,
            then ``unlearn`` the masked ones.

        Returns
        -------
        self : object
            The fitted pipeline.
        """
        params = dict(params)
        forget = params.pop("forget", None)
        last_forget = params.pop(f"{self.steps[-1][0]}__forget", None)
        if forget is None:
            forget = last_forget
        weights = self._fit_weights(params)
        n = _num_rows(X)
        if forget is not None:
            forget = _check_forget(forget, n)
            if not hasattr(self._final_estimator, "unlearn"):
                raise ValueError(
                    "forget needs a last step that can unlearn; "
                    f"{type(self._final_estimator).__name__} cannot."
                )
        super().fit(X, y, **params)
        pre = self._preprocessor()
        self.preprocessing_record_ = (
            None
            if pre is None
            else PreprocessingRecord.from_fitted(pre, X, sample_weight=weights)
        )
        self.fingerprints_ = RowMultiset()
        self._model_raw_keys = False
        if y is not None:
            keys = fingerprint_rows(X, y)
            self.fingerprints_.add(keys, np.ones(n) if weights is None else weights)
            last = self._final_estimator
            if hasattr(last, "_set_row_keys"):
                # the model identifies rows by their raw form from now on: the
                # features it sees change when the preprocessing is downdated
                last._set_row_keys(
                    keys,
                    sample_weight=weights if self._model_weighted(params) else None,
                )
                self._model_raw_keys = True
        self.preprocessing_notes_ = []
        self._preprocessing_warned = False
        if forget is not None and forget.any():
            self.unlearn(
                _safe_indexing(X, forget),
                _safe_indexing(y, forget),
                None if weights is None else weights[forget],
            )
        return self

    @staticmethod
    def _fit_weights(params):
        found = [
            (key, np.asarray(val, dtype=np.float64).reshape(-1))
            for key, val in params.items()
            if (key == "sample_weight" or key.endswith("__sample_weight"))
            and val is not None
        ]
        if not found:
            return None
        first_key, first = found[0]
        for key, w in found[1:]:
            if w.shape != first.shape or not np.array_equal(w, first):
                raise ValueError(
                    f"UnlearnPipeline keeps one weight per row, but {first_key} "
                    f"and {key} differ; pass the same sample_weight to every step."
                )
        return first

    def _model_weighted(self, params) -> bool:
        """Whether the last step was fitted with the sample weights."""
        if f"{self.steps[-1][0]}__sample_weight" in params:
            return True
        if "sample_weight" in params and get_config()["enable_metadata_routing"]:
            try:
                routing = self._final_estimator.get_metadata_routing()
                return bool(routing.consumes("fit", ["sample_weight"]))
            except (AttributeError, TypeError):  # pragma: no cover
                return True
        return False

    def _preprocessor(self):
        """Every step but the last, as one Pipeline (``None`` if there is none)."""
        if len(self.steps) < 2:
            return None
        return Pipeline(list(self.steps[:-1]))

    # -------------------------------------------------------------- updates
    @available_if(_final_estimator_has("unlearn"))
    def unlearn(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """Forget training rows: preprocessing and model as if never fitted on them.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_forget, n_features)
            Rows to forget, exactly as they were passed to ``fit``.
        y : array-like of shape (n_forget,)
            Their targets.
        sample_weight : array-like of shape (n_forget,), default=None
            Their training weights; by default the weights recorded at ``fit``.
        X_retain, y_retain, sample_weight_retain : default=None
            All rows that remain (raw), for methods that need them.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If a row was never trained on or already forgotten, or if the
            last step rejects the request. Nothing is changed then.
        """
        if _num_rows(X) == 0:
            raise ValueError("No rows to forget.")
        return self._unlearning_update(
            "unlearn",
            remove=(X, y, sample_weight),
            add=None,
            retain=_retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    @available_if(_final_estimator_has("relabel"))
    def relabel(
        self,
        X,
        y_old,
        y_new,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """Correct labels of training rows.

        The preprocessing is left as it is (its steps do not see labels; a
        step that might is named in the notes).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_rows, n_features)
        y_old : array-like of shape (n_rows,)
            Labels the rows were trained with.
        y_new : array-like of shape (n_rows,)
            Corrected labels.
        X_retain, y_retain, sample_weight_retain : default=None
            All rows after the correction (raw).

        Returns
        -------
        self : object
        """
        if _num_rows(X) == 0:
            raise ValueError("No rows to relabel.")
        return self._unlearning_update(
            "relabel",
            remove=(X, y_old, None),
            add=(X, y_new, "carry"),
            retain=_retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    @available_if(_final_estimator_has("update"))
    def update(
        self,
        remove=None,
        add=None,
        *,
        X_retain=None,
        y_retain=None,
        sample_weight_retain=None,
    ):
        """Remove some training rows and add others, preprocessing included.

        Parameters
        ----------
        remove, add : tuple ``(X, y)`` or ``(X, y, sample_weight)``, default=None
            Raw rows, as passed to ``fit``.
        X_retain, y_retain, sample_weight_retain : default=None
            All rows after the update (raw).

        Returns
        -------
        self : object
        """
        remove = None if remove is None else _as_triple(remove, "remove")
        add = None if add is None else _as_triple(add, "add")
        if remove is not None and _num_rows(remove[0]) == 0:
            remove = None
        if add is not None and _num_rows(add[0]) == 0:
            add = None
        if remove is None and add is None:
            raise ValueError("Nothing to remove or add.")
        return self._unlearning_update(
            "update",
            remove=remove,
            add=add,
            retain=_retain_tuple(X_retain, y_retain, sample_weight_retain),
        )

    # ----------------------------------------------------------- machinery
    def _unlearning_update(self, operation, remove, add, retain):
        check_is_fitted(self)
        if not hasattr(self, "fingerprints_"):
            raise AttributeError(
                "This UnlearnPipeline was not fitted with UnlearnPipeline.fit."
            )
        last = self._final_estimator
        if not hasattr(last, "_update"):
            raise TypeError(
                f"The last step, {type(last).__name__}, has no _update hook: it "
                "must be a sklearn-unlearn estimator."
            )
        # 1. check the request on the raw rows, before anything changes
        fps = self.fingerprints_
        n_r = n_a = 0
        keys_r = keys_a = np.zeros(0, dtype=object)
        w_r = w_a = None
        if remove is not None:
            Xr, yr, wr_user = remove
            n_r = _num_rows(Xr)
            if wr_user is not None:
                wr_user = np.asarray(wr_user, dtype=np.float64).reshape(-1)
                if wr_user.shape != (n_r,):
                    raise ValueError(
                        f"sample_weight has {wr_user.shape[0]} entries for {n_r} rows."
                    )
            keys_r = fingerprint_rows(Xr, yr)
            bad = fps.missing(keys_r, wr_user)
            if len(bad):
                raise ValueError(
                    f"{len(bad)} of the {n_r} rows to remove were never trained on, "
                    "were already forgotten, or are asked for more often than they "
                    f"were trained on (positions {bad[:20].tolist()}"
                    f"{' ...' if len(bad) > 20 else ''}). Nothing was changed."
                )
            w_r = wr_user if wr_user is not None else fps.peek_weights(keys_r)
        if add is not None:
            Xa, ya, wa_user = add
            n_a = _num_rows(Xa)
            if isinstance(wa_user, str):  # relabel: each copy keeps its weight
                w_a = w_r
            elif wa_user is not None:
                w_a = np.asarray(wa_user, dtype=np.float64).reshape(-1)
                if w_a.shape != (n_a,):
                    raise ValueError(
                        f"sample_weight has {w_a.shape[0]} entries for {n_a} rows."
                    )
            else:
                w_a = np.ones(n_a)
            keys_a = fingerprint_rows(Xa, ya)
        if len(fps) - n_r + n_a <= 0:
            raise ValueError(
                "The request would remove every training row; nothing was changed."
            )
        keys_k = None
        if retain is not None:
            keys_k = _check_retain(fps, retain, keys_r, keys_a)

        # 2. the new preprocessing, computed aside
        pre = self._preprocessor()
        record = self.preprocessing_record_
        M, notes, new_pre, new_record = None, [], pre, record
        if pre is not None and operation == "relabel":
            notes = label_dependence_notes(pre)
        elif pre is not None:
            new_pre, new_record, M, notes = downdate_preprocessing(
                pre,
                record,
                remove[0] if n_r else None,
                add[0] if n_a else None,
                sample_weight_remove=w_r if n_r else None,
                sample_weight_add=w_a if n_a else None,
            )
            if affine_map_is_identity(M):
                M = None

        # 3. every row in the new features, then the model's own update
        def features(t):
            if t is None:
                return None
            X = t[0] if new_pre is None else new_pre.transform(t[0])
            return (X, *t[1:])

        row_keys = None
        if getattr(self, "_model_raw_keys", False):
            row_keys = {"remove": keys_r, "add": keys_a}
            if keys_k is not None:
                row_keys["retain"] = keys_k
        kwargs = _hook_kwargs(last, M, notes, row_keys)
        last._update(
            operation,
            remove=features(remove),
            add=features(add),
            retain=features(retain),
            **kwargs,
        )

        # 4. commit, all at once
        if new_pre is not pre:
            for i, (name, step) in enumerate(new_pre.steps):
                self.steps[i] = (name, step)
        self.preprocessing_record_ = new_record
        if n_r:
            fps.remove(keys_r, w_r)
        if n_a:
            fps.add(keys_a, w_a)
        fresh = [note for note in notes if note not in self.preprocessing_notes_]
        self.preprocessing_notes_.extend(fresh)
        if notes and not getattr(self, "_preprocessing_warned", False):
            self._preprocessing_warned = True
            warnings.warn(
                "Some preprocessing state still depends on the forgotten rows "
                "(see preprocessing_notes_; this warning is shown once per "
                "fitted pipeline): " + "; ".join(notes),
                PreprocessingStateWarning,
                stacklevel=3,
            )
        return self


def _hook_kwargs(last, M, notes, row_keys):
    params = inspect.signature(last._update).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {}
    if M is not None:
        if "feature_map" not in params and not var_kw:
            raise TypeError(
                f"{type(last).__name__}._update takes no feature_map, so the model "
                "cannot be re-expressed in the downdated preprocessing's features. "
                "Nothing was changed."
            )
        kwargs["feature_map"] = M
    if "notes" in params or var_kw:
        kwargs["notes"] = list(notes)
    if row_keys is not None:
        if "row_keys" not in params and not var_kw:
            raise TypeError(  # pragma: no cover - _set_row_keys implies row_keys
                f"{type(last).__name__}._update takes no row_keys."
            )
        kwargs["row_keys"] = row_keys
    return kwargs


def _check_forget(forget, n):
    mask = np.asarray(forget)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(
            f"forget must be a boolean mask of length n_samples={n}, got dtype "
            f"{mask.dtype} and shape {mask.shape}."
        )
    return mask


def _retain_tuple(X, y, w):
    if X is None and y is None:
        return None
    if X is None or y is None:
        raise ValueError("Pass both X_retain and y_retain, or neither.")
    return (X, y, w)


def _as_triple(t, name):
    if not isinstance(t, tuple | list) or len(t) not in (2, 3):
        raise TypeError(f"{name} must be a tuple (X, y) or (X, y, sample_weight).")
    return (t[0], t[1], t[2] if len(t) == 3 else None)


def _check_retain(fps, retain, keys_r, keys_a):
    expected = fps.counter()
    expected.subtract(keys_r)
    expected.update(keys_a)
    expected = +expected
    keys = fingerprint_rows(retain[0], retain[1])
    got = +Counter(keys)
    if got != expected:
        extra = sum((got - expected).values())
        lacking = sum((expected - got).values())
        raise ValueError(
            "X_retain/y_retain are not the rows that remain after this request: "
            f"{extra} rows too many, {lacking} rows missing. Nothing was changed."
        )
    return keys


def _name_estimators(estimators):
    """Lower-case class names, numbered when repeated (as scikit-learn does)."""
    names = [
        est if isinstance(est, str) else type(est).__name__.lower()
        for est in estimators
    ]
    count = defaultdict(int)
    for name in names:
        count[name] += 1
    count = {k: v for k, v in count.items() if v > 1}
    for i in reversed(range(len(estimators))):
        if names[i] in count:
            name = names[i]
            names[i] = f"{name}-{count[name]}"
            count[name] -= 1
    return list(zip(names, estimators, strict=True))


def make_pipeline(
    *steps, memory=None, transform_input=None, verbose=False
) -> UnlearnPipeline:
    """Build an :class:`UnlearnPipeline` from estimators, naming them automatically.

    Parameters
    ----------
    *steps : list of estimators
        The preprocessing steps, then the (unlearning) estimator.
    memory : str or object with the joblib.Memory interface, default=None
        As for :func:`sklearn.pipeline.make_pipeline`.
    transform_input : list of str, default=None
        As for :func:`sklearn.pipeline.make_pipeline`.
    verbose : bool, default=False
        As for :func:`sklearn.pipeline.make_pipeline`.

    Returns
    -------
    UnlearnPipeline

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.pipeline import make_pipeline
    >>> make_pipeline(StandardScaler(), UnlearningClassifier(LogisticRegression()))
    UnlearnPipeline(steps=[('standardscaler', StandardScaler()),
                           ('unlearningclassifier',
                            UnlearningClassifier(estimator=LogisticRegression()))])
    """
    return UnlearnPipeline(
        _name_estimators(steps),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )
