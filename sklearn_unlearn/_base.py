"""The unlearning meta-estimators' shared machinery."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
)

from ._fingerprint import RowMultiset, as_key_array, fingerprint_array
from ._fingerprint_key import FingerprintKey, resolve_key
from ._ledger import Ledger
from ._preprocessed_update import (
    check_remaining,
    check_retained_rows,
    missing_rows_error,
)
from ._request_methods import KEEP_WEIGHTS, RequestMethodsMixin
from ._request_rows import explain_missing
from ._single_row import one_row_request
from ._training_fold import record_training_fold
from .adapters import LinearAdapter, check_model, is_skorch_net
from .adapters._newton_solver import minimize_newton
from .adapters._third_derivative import SampledThirdDerivative
from .curvature import CholeskyCurvature, NotPositiveDefiniteError
from .methods import METHOD_SHORTCUTS, UnlearningMethod
from .methods._base import Rows, UnlearnState, UpdateRequest, reparameterize_state
from .methods._newton_one_row import one_row_newton_state
from .utils._compat import HasMethods, Interval, StrOptions, _fit_context, validate_data
from .utils._namespace import all_finite, distance
from .utils._out_of_core import (
    ChunkedRows,
    check_chunked_rows,
    is_out_of_core,
    take_rows,
)
from .utils._validation import check_forget_mask, user_stacklevel

__all__ = ["UnlearningBudgetWarning"]


class UnlearningBudgetWarning(UserWarning):
    """An update's distance to retraining (estimated, or bounded) is too large.

    Raised when it passes ``error_budget``, or, without a budget, when the
    estimated distance passes :data:`ESTIMATE_WARNING_TOL` of the parameters'
    norm. The message says what to do: pass the retained rows (``Newton``
    refines on them), or retrain.
    """


#: relative estimated distance to retraining past which an update warns
ESTIMATE_WARNING_TOL = 1e-3


def fit_error_estimate(adapter, method, curvature, theta, rows) -> float | None:
    """The distance from the fitted ``theta`` to the exact optimum: ``||H^{-1} g||``.

    Zero after polishing up to rounding; the Newton decrement's distance for
    a model left where its own solver stopped. ``None`` for a method or
    model without an estimate.
    """
    if not (method.estimates_error and adapter.convex):
        return None
    if not isinstance(curvature, CholeskyCurvature):
        return None
    g = adapter.gradient(theta, rows.X, rows.y, rows.c)
    g = g + adapter.penalty_gradient(theta, rows.weight)
    return float(np.linalg.norm(curvature.solve(g)))


def _delegate(name: str, summary: str, returns: str):
    """A method that validates ``X`` and calls the fitted wrapped model's ``name``."""

    def method(self, X):
        check_is_fitted(self)
        return getattr(self.estimator_, name)(self._validate_X(X, reset=False))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"""{summary} the (updated) wrapped model.

        Parameters
        ----------
        X : {{array-like, sparse matrix}} of shape (n_samples, n_features)

        Returns
        -------
        {returns}
        """
    return available_if(_estimator_has(name))(method)


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


def _short_repr(step, width=60) -> str:
    """A step as it would be written, or ``Name(...)`` when that is long."""
    if step is None or isinstance(step, str):
        return repr(step)
    text = " ".join(repr(step).split())
    return text if len(text) <= width else f"{type(step).__name__}(...)"


_POLISH_WARN = 0.01  # relative move of polish that means "not converged"


@dataclass(frozen=True)
class _CheckedRequest:
    """A request that passed every check: its rows, fingerprints and counts."""

    request: UpdateRequest
    keys_remove: np.ndarray
    weights_remove: np.ndarray | None
    keys_add: np.ndarray
    weights_add: np.ndarray
    n_remaining: int
    class_counts: np.ndarray | None
    raw_keep: tuple | None


class BaseUnlearner(RequestMethodsMixin, MetaEstimatorMixin, BaseEstimator):
    """Common base of :class:`UnlearningClassifier` and :class:`UnlearningRegressor`."""

    __metadata_request__fit = {"forget": True, "X_val": True, "y_val": True}

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "method": [StrOptions(set(METHOD_SHORTCUTS)), UnlearningMethod],
        "error_budget": [Interval(Real, 0, None, closed="neither"), None],
        "error_budget_on": [StrOptions({"estimate", "bound"})],
        "polish": ["boolean"],
        "fingerprint_key": [FingerprintKey, None],
    }

    def __init__(
        self,
        estimator,
        method="newton",
        *,
        error_budget=None,
        error_budget_on="estimate",
        polish=True,
        fingerprint_key=None,
    ):
        self.estimator = estimator
        self.method = method
        self.error_budget = error_budget
        self.error_budget_on = error_budget_on
        self.polish = polish
        self.fingerprint_key = fingerprint_key

    def _key(self) -> bytes:
        """The secret of the fitted fingerprints (raises if held elsewhere)."""
        return resolve_key(self.fingerprint_key, self.fingerprint_key_)

    # ---------------------------------------------------------------- helpers
    def _make_method(self) -> UnlearningMethod:
        if isinstance(self.method, str):
            return METHOD_SHORTCUTS[self.method]()
        method = clone(self.method)
        method._validate_params()
        return method

    def _model_template(self):
        """The unfitted wrapped model."""
        return self.estimator

    @property
    def _model(self):
        """The fitted wrapped model."""
        return self.estimator_

    def _refuse_pipeline(self) -> None:
        """Refuse a scikit-learn ``Pipeline`` as ``estimator``, naming the route.

        Preprocessing goes in front of the unlearning estimator, in an
        :class:`~sklearn_unlearn.pipeline.UnlearnPipeline`, never inside it.
        """
        if not isinstance(self.estimator, Pipeline):
            return
        name = type(self).__name__
        steps = [_short_repr(step) for _, step in self.estimator.steps]
        model = steps.pop() if steps else "<the model>"
        args = ", ".join([*steps, f"{name}({model})"])
        raise TypeError(
            f"{name} wraps a model, not a Pipeline: put it last in "
            f"sklearn_unlearn.pipeline.make_pipeline({args}), which downdates "
            "the preprocessing exactly and works on DataFrames."
        )

    @property
    def _is_net(self) -> bool:
        return is_skorch_net(self._model_template())

    @property
    def _input_dtype(self):
        """float64 for linear models; a net's rows are cast to what it consumes."""
        if not self._is_net:
            return np.float64
        from .adapters._skorch_fit import net_input_dtype

        return net_input_dtype(self._model_template())

    def _validate_X(self, X, *, reset):
        return validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=self._input_dtype,
        )

    def _is_plain_rows(self, Z) -> bool:
        """A finite 2-d ndarray of the fitted width and dtype, fitted without names.

        scikit-learn's ``validate_data`` would hand such rows back unchanged;
        checking them here keeps its fixed cost (about 1 ms) out of updates.
        """
        return (
            type(Z) is np.ndarray
            and Z.ndim == 2
            and Z.shape[0] > 0
            and Z.shape[1] == getattr(self, "n_features_in_", -1)
            and Z.dtype == self._input_dtype
            and not hasattr(self, "feature_names_in_")
            and bool(np.isfinite(Z).all())
        )

    def _reads_in_chunks(self, X, method) -> bool:
        """Whether a linear model reads ``X`` chunk by chunk (memmap, dask).

        A method that needs every row's gradient in memory (SSSE, PUMA) is
        refused on such rows, except on a memmap small enough to load
        (below 1 GiB), which is then read into memory like any array-like.
        """
        if self._is_net or not is_out_of_core(X):
            return False
        from .adapters._chunked import OUT_OF_CORE_METHODS

        small = isinstance(X, np.memmap) and X.nbytes < 2**30
        return not (small and type(method).__name__ not in OUT_OF_CORE_METHODS)

    def _validate_model_X(self, Z):
        """A request's rows, checked as ``fit`` checked its rows."""
        if self._is_plain_rows(Z):  # what validate_data would return as is
            return Z
        if self._reads_in_chunks(Z, self.method_):
            return self._validate_out_of_core(Z, reset=False)
        return self._validate_X(Z, reset=False)

    def _validate_y(self, y, n):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got shape {y.shape}.")
        if len(y) != n:
            raise ValueError(f"X has {n} rows but y has {len(y)} entries.")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity.")
        return y

    def _validate_out_of_core(self, X, *, reset):
        """Memmap or dask rows, checked chunk by chunk and never copied whole.

        A request small enough for one chunk comes back as a float64 ndarray;
        larger ones stay :class:`~.utils._out_of_core.ChunkedRows`.
        """
        width = None if reset else self.n_features_in_
        rows = check_chunked_rows(X, n_features=width)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if reset or len(rows) > rows.chunk_rows:
            return rows
        return rows.take(np.arange(len(rows)))

    def _rows(self, X, y, weights) -> Rows:
        a = self._adapter
        return Rows(X, a.encode_target(y), a.row_weights(y, weights))

    @property
    def _adapter(self) -> LinearAdapter:
        return self.adapter_

    def _fit_base(self, X, y, sample_weight):
        est = clone(self._model_template())
        if sample_weight is None:
            est.fit(X, y)
        else:
            est.fit(X, y, sample_weight=sample_weight)
        return est

    def _refit_theta(self, rows_X, rows_y_raw, sample_weight):
        """Fit a fresh wrapped model and polish it; return (theta, grad_norm, H)."""
        if self._is_net:  # plain skorch fit; a refit reuses the first fit's seed
            from .adapters._skorch_fit import fit_skorch_net

            old = getattr(self, "adapter_", None)
            est, adapter = fit_skorch_net(
                self._model_template(),
                rows_X,
                rows_y_raw,
                sample_weight,
                regressor=self._is_regressor,
                rng_state=None if old is None else old.init_rng_state,
            )
            adapter = adapter if old is None else old
            return est, adapter, adapter.get_theta(est), None, None
        if isinstance(rows_X, ChunkedRows):  # scikit-learn would load every row
            from .adapters._chunked import fit_out_of_core

            return fit_out_of_core(
                self._model_template(),
                rows_X,
                rows_y_raw,
                sample_weight,
                classifier=not self._is_regressor,
            )
        est = self._fit_base(rows_X, rows_y_raw, sample_weight)
        adapter = self.adapter_ if hasattr(self, "adapter_") else LinearAdapter(est)
        theta = adapter.get_theta(est)
        y_enc = adapter.encode_target(rows_y_raw)
        c = adapter.row_weights(rows_y_raw, sample_weight)
        theta, H, gnorm, _ = minimize_newton(
            adapter, theta, rows_X, y_enc, c, max_iter=50 if self.polish else 0
        )
        return est, adapter, theta, H, gnorm

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, forget=None, X_val=None, y_val=None):
        """Fit the wrapped model, prepare for updates, then honour ``forget``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A ``numpy.memmap`` or ``dask.array.Array`` (any real dtype) is
            never loaded whole: a linear model is then fitted by exact Newton
            steps over float64 chunks (see ``adapters/_chunked.py``).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        forget : array-like of bool, shape (n_samples,), default=None
            Rows to forget right after fitting (how an experiment simulates a
            deletion request). Only a boolean mask is accepted, because
            cross-validation slices masks per fold but not index arrays.
        X_val, y_val : array-like, default=None
            Validation rows (in the same features as ``X``) on which a method
            with a criterion (:class:`~sklearn_unlearn.methods.PUMA`) measures
            it, instead of the training rows; they override the method's own
            ``validation``. The fitted estimator keeps them (in the model's
            features) to measure the criterion again after each request.

        Returns
        -------
        self : object
        """
        self._refuse_pipeline()
        check_model(self._model_template())
        X_arg, y_arg = X, y
        method = self._make_method()
        self._check_error_budget(method)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val go together: pass both or neither.")
        if X_val is not None and "validation" not in method.get_params():
            raise TypeError(
                f"X_val and y_val are the rows on which a criterion is measured; "
                f"{method.name} has no criterion (PUMA has)."
            )
        if self._reads_in_chunks(X, method):
            from .adapters._chunked import check_out_of_core_method

            check_out_of_core_method(method)
            X = self._validate_out_of_core(X, reset=True)
            y = self._validate_y(y, X.shape[0])
            if self._is_regressor and y.dtype.kind not in "biuf":
                y = y.astype(np.float64)
        else:
            X, y = validate_data(
                self,
                X,
                y,
                reset=True,
                accept_sparse=("csr", "csc") if not self._is_net else False,
                dtype=self._input_dtype,
                y_numeric=self._is_regressor,
            )
        n = _num_samples(X)
        forget = self._check_forget(forget, n)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, np.empty((n, 0)))
        self._check_targets(y, sample_weight)
        t0 = time.perf_counter()
        if X_val is not None:
            method.set_params(validation=(X_val, y_val))
        est, adapter, theta, H, gnorm = self._refit_theta(X, y, sample_weight)
        self._check_error_budget(method, adapter)
        polish_notes = self._polish_notes(adapter.get_theta(est), theta, est)
        adapter.set_theta(est, theta)
        rows = Rows(X, adapter.encode_target(y), adapter.row_weights(y, sample_weight))
        curvature = method.prepare(adapter, theta, rows, hessian=H)
        self.estimator_ = est
        self.adapter_ = adapter
        self.method_ = method
        if hasattr(est, "classes_"):
            self.classes_ = est.classes_
            self.class_counts_ = self._class_counts(y, np.zeros(len(self.classes_)))
        self.fingerprint_key_ = (
            FingerprintKey.generate()
            if self.fingerprint_key is None
            else self.fingerprint_key
        )
        keys = fingerprint_array(X, y, self._key())
        third = None
        if method.estimates_error and adapter.convex:
            third = SampledThirdDerivative.build(
                adapter, theta, X, rows.y, rows.c, keys
            )
        self.state_ = UnlearnState(
            theta=theta,
            curvature=curvature,
            total_weight=rows.weight,
            gram=adapter.gram(X, rows.c),
            radius=adapter.max_row_norm(X),
            residual_bound=gnorm,
            third=third,
            error_estimate=fit_error_estimate(adapter, method, curvature, theta, rows),
        )
        self.fingerprints_ = RowMultiset()
        self.fingerprints_.add(
            keys, np.ones(len(y)) if sample_weight is None else sample_weight
        )
        self.ledger_ = Ledger()
        self.ledger_.record(
            operation="fit",
            method=method.name,
            duration_s=time.perf_counter() - t0,
            n_removed=0,
            n_added=len(y),
            n_remaining=len(y),
            grad_residual_bound=gnorm,
            param_error_bound=self._param_bound(self.state_),
            param_error_estimate=self.state_.error_estimate,
            notes=(*polish_notes, *getattr(curvature, "notes", ())),
        )
        if forget is not None and forget.any():
            keep = ~forget
            retain = None
            if self._needs_retain(method):
                retain = (
                    take_rows(X, keep),
                    y[keep],
                    None if sample_weight is None else sample_weight[keep],
                )
            self._update(
                "unlearn",
                remove=(
                    take_rows(X, forget),
                    y[forget],
                    None if sample_weight is None else sample_weight[forget],
                ),
                add=None,
                retain=retain,
            )
        record_training_fold(self, X_arg, y_arg, forget)
        return self

    def _check_error_budget(self, method, adapter=None) -> None:
        """Refuse an ``error_budget`` that nothing would ever check.

        Called before fitting (the method, a net) and once the adapter is
        known (its loss): nothing of the fit is kept when it raises.
        """
        if self.error_budget is None:
            return
        if self.error_budget_on == "estimate":
            reason = None
            if not method.estimates_error:
                reason = f"{method.name}'s steps carry no error estimate"
            elif self._is_net:
                reason = "a net's steps carry no error estimate"
            elif adapter is not None and not (
                adapter.is_quadratic or SampledThirdDerivative.supports(adapter)
            ):
                reason = (
                    "the model has no error estimate (it is kept for single-output "
                    "models of at most 128 columns)"
                )
            if reason is not None:
                raise ValueError(
                    f"error_budget={self.error_budget} cannot be honoured: {reason}. "
                    "Use Newton or Retrain on such a model, or "
                    "error_budget_on='bound' where a certified bound exists."
                )
            return
        reason = None
        if not method.certified:
            reason = f"{method.name}'s steps carry no error bound"
        elif self._is_net:
            reason = "a net's steps carry no error bound"
        elif adapter is not None and adapter.loss.third_derivative_bound is None:
            reason = (
                f"the loss of {type(self._model_template()).__name__} has no "
                "bounded third derivative, so Newton steps on it carry no error "
                "bound"
            )
        if reason is not None:
            raise ValueError(
                f"error_budget={self.error_budget} cannot be honoured: {reason}. "
                "Use Newton or Retrain on a linear model with a bounded loss "
                "(least squares, logistic), or drop error_budget and measure "
                "the distance to a retrain (sklearn_unlearn.metrics)."
            )

    def _polish_notes(self, fitted, polished, est) -> tuple:
        """Say how far ``polish`` moved the wrapped model's own fit.

        Polishing is right (updates start from the exact optimum) but must
        not be silent: the distance goes to the ledger, and a move of more
        than 1% warns that the wrapped solver had not converged.
        """
        if not self.polish or self._is_net:
            return ()
        fitted = np.asarray(fitted, dtype=np.float64).ravel()
        polished = np.asarray(polished, dtype=np.float64).ravel()
        if fitted.shape != polished.shape:  # pragma: no cover - defensive
            return ()
        shift = float(
            np.linalg.norm(polished - fitted) / max(np.linalg.norm(polished), 1e-300)
        )
        note = (
            f"polish moved the parameters of {type(est).__name__}'s own fit by "
            f"{shift:.2g} (relative) to the exact optimum"
        )
        if shift > _POLISH_WARN:
            warnings.warn(
                f"{note}: the wrapped solver stopped short of its optimum (raise "
                "its max_iter or tol, scale the features, or use "
                "solver='newton-cholesky'). Predictions follow the exact "
                "optimum; pass polish=False to keep the solver's fit (updates "
                "then start away from the optimum).",
                ConvergenceWarning,
                stacklevel=3,
            )
        return (note,)

    def _set_row_keys(self, keys, sample_weight=None, key=None) -> None:
        """Replace the fingerprints of the training rows (same rows, raw form).

        A pipeline calls this after ``fit`` so that fingerprints identify the
        raw rows, which stay the same when the preprocessing is downdated;
        ``key`` is the pipeline's :class:`FingerprintKey` they were made with.
        """
        check_is_fitted(self)
        if key is not None:
            self.fingerprint_key_ = key
        if len(keys) != len(self.fingerprints_):
            raise ValueError("one fingerprint per training row is needed.")
        fp = RowMultiset()
        fp.add(keys, np.ones(len(keys)) if sample_weight is None else sample_weight)
        self.fingerprints_ = fp

    def _needs_retain(self, method) -> bool:
        return (
            method.requires_retained_data
            or getattr(method, "refine", 0) not in (0, None)
            or self.error_budget is not None
        )

    @staticmethod
    def _check_forget(forget, n):
        return check_forget_mask(forget, n)

    _is_regressor = False

    def _class_counts(self, y, start):
        """``start`` plus the rows of each class of ``classes_`` in ``y``."""
        counts = np.array(start, dtype=np.int64)
        np.add.at(counts, np.searchsorted(self.classes_, np.asarray(y)), 1)
        return counts

    def _class_counts_after(self, y_removed, y_added):
        """Rows per class after a request; refuses one that empties a class.

        A refit on the remaining rows would not know a class none of them
        holds (``classes_`` would lose it, or a binary model would not fit at
        all); the unlearned model would still predict it. Such a request is
        refused; ``None`` for a regressor or a model fitted before counts
        were kept.
        """
        counts = getattr(self, "class_counts_", None)
        if counts is None:
            return None
        after = self._class_counts(y_added, counts)
        np.subtract.at(after, np.searchsorted(self.classes_, np.asarray(y_removed)), 1)
        empty = self.classes_[after <= 0]
        if len(empty):
            raise ValueError(
                f"this request leaves no training row of class "
                f"{', '.join(map(repr, empty.tolist()))}: a refit on the remaining "
                "rows would not know the class, but the model would still predict "
                "it. Nothing was changed; to drop a class, retrain on the rows "
                "that remain."
            )
        return after

    def _check_targets(self, y, sample_weight):  # overridden by the classifier
        pass

    def _param_bound(self, state):
        if state.residual_bound is None or not isinstance(
            state.curvature, CholeskyCurvature
        ):
            return None
        mu = state.curvature.min_eigenvalue()
        return float(state.residual_bound / mu) if mu > 0 else float("inf")

    # ----------------------------------------------------------- the updates
    def _validated_rows(self, X, y, w, what):
        X = self._validate_model_X(X)
        y = self._validate_y(y, X.shape[0])
        if w is not None and w is not KEEP_WEIGHTS:
            w = _check_sample_weight(w, X)
        if what == "add":
            self._check_rows_to_add(X, y)
        return X, y, w

    def _check_rows_to_add(self, X, y):
        """Refuse new rows a refit would refuse: targets outside the loss's
        domain, values whose products overflow float64."""
        loss = getattr(self._model, "_base_loss", None)
        if loss is not None and len(y):
            if not loss.in_y_true_range(np.asarray(y, dtype=np.float64)):
                raise ValueError(
                    f"targets to add lie outside the domain of "
                    f"{type(self._model).__name__}'s loss "
                    f"({type(loss).__name__}: e.g. Poisson needs y >= 0, Gamma "
                    "y > 0); a refit refuses them. Nothing was changed."
                )
        if not len(y) or not hasattr(X, "shape"):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if hasattr(X, "multiply"):
                sq = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64)
            else:
                Xf = np.asarray(X, dtype=np.float64)
                sq = np.einsum("ij,ij->i", Xf, Xf)
        bad = np.flatnonzero(~np.isfinite(sq))
        if len(bad):
            raise ValueError(
                f"rows to add at positions {bad[:10].tolist()} hold values so large "
                "that their squared norm overflows float64; the model's curvature "
                "and error bound would become inf/NaN for good. Nothing was "
                "changed."
            )

    def _update(
        self,
        operation,
        remove,
        add,
        retain,
        feature_map=None,
        notes=(),
        row_keys=None,
        started=None,
    ):
        """Apply one request atomically (the engine behind every request method).

        Validate, compute, commit: the first two change nothing, and only the
        third touches the estimator. ``feature_map`` (``M`` with ``[z_old, 1] =
        M [z_new, 1]``) says that the model's input features changed affinely
        (a downdated scaler in front of it); all rows are then in the new
        features. ``notes`` go to the ledger entry. ``row_keys`` (a dict with
        "remove", "add", "retain") gives fingerprints computed by the caller on
        the raw rows, for rows that reach this model already transformed.
        """
        if "state_" not in self.__dict__:
            check_is_fitted(self)  # raises NotFittedError
        t0 = time.perf_counter() if started is None else started
        checked = new_state = None
        if (
            operation == "unlearn"
            and add is None
            and retain is None
            and feature_map is None
            and row_keys is None
        ):  # one plain row: the same checks and step without their fixed costs
            checked = one_row_request(self, remove, _CheckedRequest)
        if checked is not None:
            new_state = one_row_newton_state(
                self.adapter_,
                self.state_,
                self.method_,
                checked.request,
                checked.keys_remove,
            )
        if new_state is None:
            checked = self._checked_request(remove, add, retain, row_keys or {})
            new_state = self._stepped_state(checked, feature_map)
        new_state, bound, notes = self._judged_state(checked, new_state, list(notes))
        self._commit(operation, checked, new_state, bound, notes, t0)
        return self

    def _checked_request(self, remove, add, retain, row_keys) -> _CheckedRequest:
        """1. Validate every input of a request; nothing is changed."""
        adapter = self.adapter_
        empty = (np.zeros((0, adapter.n_features_in_)), np.zeros(0), None)
        Xr, yr, wr = (
            self._validated_rows(*remove, "remove") if remove is not None else empty
        )
        keys_r = row_keys.get("remove")
        if keys_r is None:
            keys_r = fingerprint_array(Xr, yr, self._key())
        if len(yr):
            bad = self.fingerprints_.missing(keys_r, wr)
            if len(bad):
                why = ""
                if "remove" not in row_keys:  # rows as given, in the model's form
                    why = explain_missing(
                        bad,
                        Xr,
                        yr,
                        self.fingerprints_,
                        self._key(),
                        getattr(self, "classes_", None),
                    )
                raise missing_rows_error(bad, len(yr), why)
            if wr is None:
                wr = self.fingerprints_.peek_weights(keys_r)
        if add is not None:
            Xa, ya, wa = add
            if wa is KEEP_WEIGHTS:  # relabel: the copy keeps its weight
                wa = wr
            Xa, ya, wa = self._validated_rows(Xa, ya, wa, "add")
            if wa is None:
                wa = np.ones(len(ya))
        else:
            Xa, ya, wa = empty[0], empty[1], np.zeros(0)
        rows_r = self._rows(Xr, yr, wr)  # encodes targets: refuses unseen labels
        rows_a = self._rows(Xa, ya, wa)
        keys_a = row_keys.get("add")
        if keys_a is None:
            keys_a = fingerprint_array(Xa, ya, self._key())
        n_remaining = len(self.fingerprints_) - len(yr) + len(ya)
        check_remaining(n_remaining)
        class_counts = self._class_counts_after(yr, ya)
        rows_keep = raw_keep = None
        if retain is not None:
            Xk, yk, wk = self._validated_rows(*retain, "retain")
            keys_k = row_keys.get("retain")
            if keys_k is None:
                keys_k = fingerprint_array(Xk, yk, self._key())
            check_retained_rows(self.fingerprints_, keys_k, keys_r, keys_a)
            if wk is None:
                wk = np.ones(len(yk))
            rows_keep = self._rows(Xk, yk, wk)
            raw_keep = (Xk, yk, None if retain[2] is None else wk)
        method = self.method_
        if method.requires_retained_data and rows_keep is None:
            raise ValueError(
                f"{method.name} needs the rows that remain: pass X_retain and y_retain."
            )

        def refit(rows):
            Xk_, yk_, wk_ = raw_keep
            _, _, theta, _, gnorm = self._refit_theta(Xk_, yk_, wk_)
            return theta, gnorm

        request = UpdateRequest(
            remove=rows_r, add=rows_a, retain=rows_keep, refit=refit
        )
        return _CheckedRequest(
            request=request,
            keys_remove=keys_r,
            weights_remove=wr,
            keys_add=keys_a,
            weights_add=wa,
            n_remaining=n_remaining,
            class_counts=class_counts,
            raw_keep=raw_keep,
        )

    def _stepped_state(self, checked, feature_map):
        """2. Compute the new state; nothing is changed."""
        adapter, method = self.adapter_, self.method_
        request = checked.request
        try:
            state_in = self.state_
            if feature_map is not None:
                state_in = reparameterize_state(adapter, state_in, feature_map)
            if state_in.third is not None:
                state_in = replace(
                    state_in,
                    third=state_in.third.with_request(
                        adapter,
                        state_in.theta,
                        request.remove,
                        checked.keys_remove,
                        request.add,
                        checked.keys_add,
                    ),
                )
            new_state = method.step(adapter, state_in, request)
            if not method.estimates_error:
                new_state = replace(new_state, error_estimate=None)
        except NotPositiveDefiniteError as exc:
            raise ValueError(
                f"{method.name} cannot apply this request: {exc}. Nothing was changed; "
                "retrain on the remaining rows."
            ) from exc
        return new_state

    def _judged_state(self, checked, new_state, notes):
        """3. Check the new state, bound it and apply the error budget.

        Returns ``(state, bound, notes)``; nothing of the estimator is changed.
        """
        method = self.method_
        if not all_finite(new_state.theta):
            raise ValueError(
                f"{method.name} produced non-finite parameters; nothing was changed."
            )
        if np.isinf(new_state.radius) and np.isfinite(self.state_.radius):
            notes.append(
                "the largest row norm (the bound's radius) may have left with the "
                "forgotten rows and is not kept: no error bound until a request "
                "passes the retained rows (X_retain)"
            )
        if new_state.curvature_repaired:
            msg = (
                "the downdated curvature lost positive definiteness and was repaired "
                "(eigenvalues clipped at the penalty); the error bound is now "
                "infinite: retrain, or pass X_retain/y_retain with Newton(refine=1)"
            )
            notes.append(msg)
            if self.error_budget is None:
                warnings.warn(
                    msg, UnlearningBudgetWarning, stacklevel=user_stacklevel()
                )
        bound = self._param_bound(new_state)
        on_bound = self.error_budget_on == "bound"
        measured = bound if on_bound else new_state.error_estimate
        what = "bound on the" if on_bound else "estimated"
        if (
            self.error_budget is not None
            and measured is not None
            and measured > self.error_budget
        ):
            if checked.raw_keep is not None:
                new_state = self._exact_state(method, checked.raw_keep, new_state)
                bound = self._param_bound(new_state)
                notes.append("error budget exceeded: retrained on the retained rows")
            else:
                msg = (
                    f"The {what} distance to retraining ({measured:.3g}) exceeds "
                    f"error_budget={self.error_budget}. Pass X_retain/y_retain "
                    "with the next request (Newton refines on them, or the model "
                    "retrains), or retrain now."
                )
                warnings.warn(
                    msg, UnlearningBudgetWarning, stacklevel=user_stacklevel()
                )
                notes.append("error budget exceeded: warned")
        elif self.error_budget is None and new_state.error_estimate is not None:
            norm = float(np.linalg.norm(new_state.theta))
            relative = new_state.error_estimate / max(norm, 1e-300)
            if relative > ESTIMATE_WARNING_TOL:
                msg = (
                    f"The estimated distance to retraining is {relative:.2g} of "
                    f"the parameters' norm (above {ESTIMATE_WARNING_TOL:g}): this "
                    "request was too large for one step without data. Pass "
                    "X_retain/y_retain (Newton refines on them until the estimate "
                    "is below its tol), or retrain."
                )
                warnings.warn(
                    msg, UnlearningBudgetWarning, stacklevel=user_stacklevel()
                )
                notes.append(
                    f"estimated distance to retraining {relative:.2g} of the "
                    "parameters' norm: warned"
                )
        return new_state, bound, notes

    def _commit(self, operation, checked, new_state, bound, notes, t0) -> None:
        """4. Swap everything in at once, and record the entry."""
        if new_state.third is not None:
            new_state.third.commit()
        if checked.class_counts is not None:
            self.class_counts_ = checked.class_counts
        self.fingerprints_.remove(
            checked.keys_remove, checked.weights_remove, checked=True
        )
        self.fingerprints_.add(checked.keys_add, checked.weights_add)
        self.adapter_.set_theta(self._model, new_state.theta)
        n_removed = checked.request.remove.n
        if n_removed and len(getattr(self._model, "history_", ())):
            # skorch's history logs every batch's loss, forgotten rows' too
            self._model.initialize_history()
            notes.append("the net's training history (per-batch losses) was cleared")
        old_theta = self.state_.theta
        self.state_ = new_state
        self.ledger_.record(
            operation=operation,
            method=self.method_.name,
            duration_s=time.perf_counter() - t0,
            n_removed=n_removed,
            n_added=checked.request.add.n,
            n_remaining=checked.n_remaining,
            removed=as_key_array(checked.keys_remove),
            added=as_key_array(checked.keys_add),
            step_norm=distance(new_state.theta, old_theta),
            grad_residual_bound=new_state.residual_bound,
            param_error_bound=bound,
            param_error_estimate=new_state.error_estimate,
            notes=tuple(notes),
        )

    def _exact_state(self, method, raw_keep, state):
        Xk, yk, wk = raw_keep
        _, adapter, theta, H, gnorm = self._refit_theta(Xk, yk, wk)
        rows = self._rows(Xk, yk, wk)
        return state.evolve(
            theta=theta,
            curvature=method.prepare(adapter, theta, rows, hessian=H),
            total_weight=rows.weight,
            gram=adapter.gram(Xk, rows.c),
            radius=adapter.max_row_norm(Xk),
            residual_bound=gnorm,
            drift_g=0.0,
            drift_2=0.0,
            cache_error=0.0,
            error_estimate=0.0,
        )

    # -------------------------------------------------------------- predict
    predict = _delegate("predict", "Predict with", "ndarray of shape (n_samples,)")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        try:
            inner = get_tags(self.estimator)
        except Exception:  # an invalid estimator is reported by fit
            return tags
        tags.target_tags.positive_only = inner.target_tags.positive_only
        return tags
