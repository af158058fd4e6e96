"""UnlearningClassifier: a classifier that can forget training rows."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from ._base import BaseUnlearner, _delegate

__all__ = ["UnlearningClassifier"]


class UnlearningClassifier(ClassifierMixin, BaseUnlearner):
    """Wrap a scikit-learn classifier so that it can forget or correct rows.

    ``fit`` trains a clone of ``estimator`` (polished to the exact optimum of
    its objective) and caches what later updates need: the method's
    curvature, fingerprints of the training rows and a ledger. ``unlearn``,
    ``relabel`` and ``update`` then change the fitted model in place.

    Parameters
    ----------
    estimator : estimator instance
        The classifier to wrap: ``LogisticRegression`` (l2 or no penalty) or
        ``RidgeClassifier``. A scikit-learn ``Pipeline`` is refused at
        ``fit`` (``TypeError``): put this estimator last in
        :func:`sklearn_unlearn.pipeline.make_pipeline` instead, which
        downdates the preprocessing too.
    method : {"newton", "first_order", "ssse", "retrain"} or UnlearningMethod, \
            default="newton"
        How updates are computed; a method object's hyperparameters are
        reachable as ``method__<name>`` in ``set_params`` and grid searches.
    error_budget : float, default=None
        Largest accepted bound on the parameter distance to retraining. Past
        it the model retrains when the retained rows are passed, and warns
        (:class:`UnlearningBudgetWarning`) otherwise. Only ``Newton`` and
        ``Retrain`` on a linear model with a bounded loss carry the bound;
        ``fit`` refuses a budget that nothing would check.
    polish : bool, default=True
        Run exact Newton steps after the wrapped model's own fit so that the
        model is the exact minimiser of its objective (scikit-learn's solvers
        stop at a tolerance); later updates then start from the optimum. How
        far this moved the wrapped fit is noted in the ledger, and a move of
        more than 1% (relative) raises a ``ConvergenceWarning``.
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the training rows (the ledger's
        and those that check requests); ``None`` draws a random key at
        ``fit``, kept in the model. See :class:`~sklearn_unlearn.FingerprintKey`
        for a key held outside the model (and its pickles).

    Attributes
    ----------
    estimator_ : estimator instance
        The fitted wrapped model; its ``coef_``/``intercept_`` follow every update.
    classes_ : ndarray of shape (n_classes,)
    class_counts_ : ndarray of shape (n_classes,)
        Training rows of each class now. A request that would leave a class
        without rows is refused (a refit would not know the class).
    adapter_ : LinearAdapter
        The model's math (no data inside).
    method_ : UnlearningMethod
        The fitted copy of ``method``.
    state_ : UnlearnState
        Current parameters, cached curvature and error-bound bookkeeping.
    fingerprints_ : RowMultiset
        Fingerprints of the rows currently trained on (never the rows).
    fingerprint_key_ : FingerprintKey
        The key of ``fingerprints_`` and of the ledger's fingerprints.
    ledger_ : Ledger
        One record per fit or update.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` had string column names.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.datasets import load_breast_cancer_original
    >>> X, y = load_breast_cancer_original(return_X_y=True)
    >>> X, y = X[~np.isnan(X).any(axis=1)], y[~np.isnan(X).any(axis=1)]
    >>> clf = UnlearningClassifier(LogisticRegression(C=0.1)).fit(X, y)
    >>> clf = clf.unlearn(X[:10], y[:10])
    >>> clf.ledger_[-1].n_remaining
    673
    """

    def _check_targets(self, y, sample_weight):
        check_classification_targets(y)
        labels = y if sample_weight is None else y[np.asarray(sample_weight) > 0]
        if len(np.unique(labels)) < 2:
            raise ValueError(
                "The training data (rows with positive sample weight) holds only one "
                "class; a classifier needs samples of at least 2 classes."
            )

    predict_proba = _delegate(
        "predict_proba",
        "Class probabilities of",
        "ndarray of shape (n_samples, n_classes)",
    )
    predict_log_proba = _delegate(
        "predict_log_proba",
        "Log class probabilities of",
        "ndarray of shape (n_samples, n_classes)",
    )
    decision_function = _delegate(
        "decision_function",
        "Decision function of",
        "ndarray of shape (n_samples,) or (n_samples, n_classes)",
    )
