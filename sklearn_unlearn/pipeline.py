"""A scikit-learn Pipeline whose preprocessing forgets rows together with its model.

:class:`UnlearnPipeline` adds ``unlearn``, ``relabel`` and ``update`` to
:class:`sklearn.pipeline.Pipeline`, the way imbalanced-learn's pipeline adds
``fit_resample``: as ordinary methods, available when the last step has them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn import get_config
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._drop_columns import ColumnDropRefused, prepare_column_drop
from ._fingerprint import RowMultiset, fingerprint_array
from ._fingerprint_key import FingerprintKey, resolve_key
from ._preprocessed_update import update_through_preprocessing, warn_preprocessing_once
from ._request_methods import RequestMethodsMixin
from ._request_rows import FrameSchema
from ._training_fold import record_training_fold
from .curvature import NotPositiveDefiniteError
from .preprocessing import PreprocessingRecord
from .preprocessing._categories import forgotten_categories
from .utils._validation import check_forget_mask

__all__ = ["UnlearnPipeline", "make_pipeline"]


def _needs_retained_rows(model) -> bool:
    """Whether the fitted ``model``'s requests need the rows that remain."""
    needs = getattr(model, "_needs_retain", None)
    method = getattr(model, "method_", None)
    return bool(needs is not None and method is not None and needs(method))


def _final_estimator_has(attr):
    def check(self):
        return hasattr(self._final_estimator, attr)

    return check


def _num_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


class UnlearnPipeline(RequestMethodsMixin, Pipeline):
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

    A category of a ``OneHotEncoder`` (``handle_unknown="ignore"``, in the
    last ``ColumnTransformer``) seen only in forgotten rows is dropped from
    the encoder, and its column from an L2-penalised linear model, after the
    model's update: a refit's coefficient on that column would be 0.

    Steps whose state cannot be downdated (imputers' medians, other
    categories seen only in forgotten rows, unknown transformers) are named
    in ``preprocessing_notes_``, and a :class:`PreprocessingStateWarning` is
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
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the training rows; ``None``
        draws a random key at ``fit``, kept in the model. See
        :class:`~sklearn_unlearn.FingerprintKey` for keeping it elsewhere.

    Attributes
    ----------
    preprocessing_record_ : PreprocessingRecord or None
        Aggregate counts of the training rows that the preprocessing needs
        to be downdated (never the rows); ``None`` without preprocessing.
    fingerprints_ : RowMultiset
        Fingerprints of the raw training rows and their weights, to check
        requests before anything changes.
    fingerprint_key_ : FingerprintKey
        The key of ``fingerprints_``.
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

    def __init__(
        self,
        steps,
        *,
        transform_input=None,
        memory=None,
        verbose=False,
        fingerprint_key=None,
    ):
        super().__init__(
            steps, transform_input=transform_input, memory=memory, verbose=verbose
        )
        self.fingerprint_key = fingerprint_key

    def _key(self) -> bytes:
        return resolve_key(self.fingerprint_key, self.fingerprint_key_)

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
            forget = check_forget_mask(forget, n)
            if not hasattr(self._final_estimator, "unlearn"):
                raise ValueError(
                    "forget needs a last step that can unlearn; "
                    f"{type(self._final_estimator).__name__} cannot."
                )
        self._check_net_behind_preprocessing()
        self._refuse_raw_validation_rows(params)
        super().fit(X, y, **params)
        pre = self._preprocessor()
        self.preprocessing_record_ = (
            None
            if pre is None
            else PreprocessingRecord.from_fitted(pre, X, sample_weight=weights)
        )
        if self.fingerprint_key is not None and not isinstance(
            self.fingerprint_key, FingerprintKey
        ):
            raise TypeError(
                "fingerprint_key must be a FingerprintKey or None, got "
                f"{type(self.fingerprint_key).__name__}."
            )
        self.fingerprint_key_ = self.fingerprint_key or FingerprintKey.generate()
        self._frame_schema = FrameSchema.of(X)
        self.fingerprints_ = RowMultiset()
        self._model_raw_keys = False
        if y is not None:
            keys = fingerprint_array(X, y, self._key())
            self.fingerprints_.add(keys, np.ones(n) if weights is None else weights)
            last = self._final_estimator
            if hasattr(last, "_set_row_keys"):
                # the model identifies rows by their raw form from now on: the
                # features it sees change when the preprocessing is downdated
                last._set_row_keys(
                    keys,
                    sample_weight=weights if self._model_weighted(params) else None,
                    key=self.fingerprint_key_,
                )
                self._model_raw_keys = True
        self.preprocessing_notes_ = []
        self._preprocessing_warned = False
        if forget is not None and forget.any():
            retain = {}
            if _needs_retained_rows(self._final_estimator):
                retain = dict(
                    X_retain=_safe_indexing(X, ~forget),
                    y_retain=_safe_indexing(y, ~forget),
                    sample_weight_retain=None if weights is None else weights[~forget],
                )
            self.unlearn(
                _safe_indexing(X, forget),
                _safe_indexing(y, forget),
                None if weights is None else weights[forget],
                **retain,
            )
        record_training_fold(self, X, y, forget)
        return self

    def _refuse_raw_validation_rows(self, params) -> None:
        """Refuse ``<last step>__X_val`` behind preprocessing.

        scikit-learn routes it to the model as given, so a criterion (PUMA's)
        would be measured on rows in raw features while the model reads
        preprocessed ones; and the rows would have to follow every downdate
        of the preprocessing. Refused before anything is fitted.
        """
        last = self.steps[-1][0]
        given = [k for k in (f"{last}__X_val", f"{last}__y_val") if k in params]
        fitted_steps = [
            name for name, step in self.steps[:-1] if step not in (None, "passthrough")
        ]
        if given and fitted_steps:
            raise ValueError(
                f"{' and '.join(given)} would reach the model untransformed, "
                f"while the model reads the output of {', '.join(fitted_steps)} "
                "(and that output changes when rows are forgotten): validation "
                "rows are not supported behind preprocessing. Use the method "
                "without them (PUMA then measures its criterion on the rows "
                "that remain), or fit the model on preprocessed arrays. Nothing "
                "was fitted."
            )

    def _check_net_behind_preprocessing(self) -> None:
        """Refuse a net behind preprocessing whose state moves with the rows.

        When rows leave, a scaler's (or an encoder's) statistics change and
        the model must see the features the refit would see; a linear model
        absorbs that affine change exactly, a net's first layer is not
        reparameterised yet.
        """
        if not getattr(self._final_estimator, "_is_net", False):
            return
        stateful = [
            name
            for name, step in self.steps[:-1]
            if step not in (None, "passthrough")
            and type(step).__name__ != "FunctionTransformer"
        ]
        if stateful:
            raise ValueError(
                f"a skorch net cannot forget behind fitted preprocessing "
                f"({', '.join(stateful)}): when rows leave, the preprocessing's "
                "statistics change and the net's first layer would have to absorb "
                "that change, which is not supported. Fit the preprocessing "
                "outside the UnlearnPipeline and give the net its output, or use "
                "a linear model behind the preprocessing."
            )

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
    # the estimators' own front doors, offered when the last step has them
    unlearn = available_if(_final_estimator_has("unlearn"))(RequestMethodsMixin.unlearn)
    relabel = available_if(_final_estimator_has("relabel"))(RequestMethodsMixin.relabel)
    update = available_if(_final_estimator_has("update"))(RequestMethodsMixin.update)

    def _update(self, operation, remove, add, retain):
        """Downdate the preprocessing, update the last step, then commit both."""
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
        schema = getattr(self, "_frame_schema", None)
        if schema is not None:  # names, order and kinds of columns, first
            remove, add, retain = (
                None if t is None else (schema.check(t[0], what), *t[1:])
                for t, what in (
                    (remove, "rows to remove"),
                    (add, "rows to add"),
                    (retain, "retained rows"),
                )
            )
        result = update_through_preprocessing(
            preprocessor=self._preprocessor(),
            record=self.preprocessing_record_,
            fingerprints=self.fingerprints_,
            update_model=last._update,
            operation=operation,
            remove=remove,
            add=add,
            retain=retain,
            key=self._key(),
            row_keys=getattr(self, "_model_raw_keys", False),
            classes=getattr(last, "classes_", None),
        )
        record, notes = result.record, list(result.notes)
        drop = self._category_drop(result, last) if result.changed else None
        # commit, all at once
        if drop is not None:
            plan, commit_model = drop
            plan.apply()
            commit_model()
            record = plan.new_record(record)
            residue = set(plan.residue_notes)
            notes = [n for n in notes if n not in residue]
            ledger = getattr(last, "ledger_", None)
            if ledger is not None and len(ledger):
                kept = [n for n in ledger[-1].notes if n not in residue]
                ledger._revise_last_notes([*kept, *plan.drop_notes])
        if result.changed:
            for i, (name, step) in enumerate(result.preprocessor.steps):
                self.steps[i] = (name, step)
        self.preprocessing_record_ = record
        result.commit_fingerprints(self.fingerprints_)
        fresh = [n for n in notes if n not in self.preprocessing_notes_]
        self.preprocessing_notes_.extend(fresh)
        warn_preprocessing_once(
            self,
            notes,
            "Some preprocessing state still depends on the forgotten rows "
            "(see preprocessing_notes_; this warning is shown once per "
            "fitted pipeline): ",
            stacklevel=4,
        )
        return self

    def _category_drop(self, result, last):
        """Categories only forgotten rows held, if they can be dropped exactly.

        A refit on the remaining rows would not learn them, and under an L2
        penalty its coefficients on their one-hot columns are 0: dropping
        them from the encoder and the columns from the model (after its
        update, which needs the removed rows' ones in those columns) is the
        refit's answer. Returns ``(plan, commit_model)``, or None (the
        encoders keep them, as the notes say) when the drop would not be
        exact; nothing is changed here.
        """
        width = getattr(last, "n_features_in_", None)
        if width is None:
            return None
        plan = forgotten_categories(
            result.preprocessor, self.preprocessing_record_, result.record, width
        )
        if plan is None:
            return None
        try:
            commit_model = prepare_column_drop(last, plan.columns)
        except (ColumnDropRefused, NotPositiveDefiniteError):
            return None
        return plan, commit_model


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
    *steps, memory=None, transform_input=None, verbose=False, fingerprint_key=None
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
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the training rows; ``None``
        draws a random key at ``fit``, kept in the model. See
        :class:`~sklearn_unlearn.FingerprintKey` for keeping it elsewhere.

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
        fingerprint_key=fingerprint_key,
    )
