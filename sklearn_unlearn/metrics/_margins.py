"""Correct-class margins ``logit_y - logsumexp(other logits)`` of a classifier."""

from __future__ import annotations

import sys

import numpy as np
from scipy.special import logsumexp

__all__ = ["MARGIN_CLIP", "find_net", "logits", "margins", "margins_from_logits"]

MARGIN_CLIP = 100.0


def find_net(model):
    """The skorch net inside ``model`` (itself or its fitted ``estimator_``), or None.

    Parameters
    ----------
    model : estimator instance

    Returns
    -------
    skorch.NeuralNet or None

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics._margins import find_net
    >>> find_net(LogisticRegression()) is None
    True
    """
    skorch = sys.modules.get("skorch")  # a net exists only if skorch was imported
    if skorch is None:
        return None
    seen = 0
    while model is not None and seen < 8:
        if isinstance(model, skorch.NeuralNet):
            return model
        model = getattr(model, "estimator_", None)
        seen += 1
    return None


def _net_logits(net, X) -> np.ndarray:
    """Logits of a fitted skorch net, read from the module's output."""
    import torch

    crit = getattr(net, "criterion_", None)
    with torch.no_grad():
        out = net.forward(X, training=False)
    out = out.detach().cpu().numpy().astype(np.float64)
    if isinstance(crit, torch.nn.CrossEntropyLoss):
        return out.reshape(len(out), -1)
    if isinstance(crit, torch.nn.BCEWithLogitsLoss):  # one logit: [0, z]
        z = out.reshape(-1)
        return np.column_stack([np.zeros_like(z), z])
    if isinstance(crit, torch.nn.NLLLoss):  # skorch's module outputs probabilities
        with np.errstate(divide="ignore"):
            return np.log(out.reshape(len(out), -1))
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(net.predict_proba(X), dtype=np.float64))


def logits(estimator, X) -> np.ndarray:
    """Per-class logits (up to a per-row constant) of a fitted classifier.

    Read from a skorch net's module output when there is a net (also inside
    an :class:`~sklearn_unlearn.UnlearningClassifier`), else from
    ``decision_function`` (binary: ``[0, d]``), else ``log(predict_proba)``.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics._margins import logits
    >>> X, y = make_classification(n_samples=40, random_state=0)
    >>> logits(LogisticRegression().fit(X, y), X[:2]).shape
    (2, 2)
    """
    net = find_net(estimator)
    if net is not None:
        return _net_logits(net, X)
    if hasattr(estimator, "decision_function"):
        d = np.asarray(estimator.decision_function(X), dtype=np.float64)
        if d.ndim == 1:
            return np.column_stack([np.zeros_like(d), d])
        return d
    if hasattr(estimator, "predict_proba"):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(estimator.predict_proba(X), dtype=np.float64))
    raise TypeError(
        f"{type(estimator).__name__} has neither decision_function nor "
        "predict_proba (nor is it a skorch net): margins need class scores."
    )


def _class_index(estimator, y, n_classes) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {y.shape}.")
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        net = find_net(estimator)
        classes = getattr(net, "classes_", None) if net is not None else None
    if classes is None:
        classes = np.arange(n_classes)
    classes = np.asarray(classes)
    idx = np.searchsorted(classes, y) if len(y) else np.zeros(0, dtype=int)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        raise ValueError(
            f"y holds labels the model does not know: {np.unique(y[bad])[:5]!r}; "
            f"its classes are {classes!r}."
        )
    return idx


def margins_from_logits(Z, idx) -> np.ndarray:
    """``Z[i, y_i] - logsumexp(Z[i, k != y_i])``, clipped to [-100, 100].

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_classes)
    idx : ndarray of int, shape (n_samples,)
        Column of each row's correct class.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics._margins import margins_from_logits
    >>> margins_from_logits(np.array([[0.0, 2.0], [1.0, 1.0]]), np.array([1, 0]))
    array([2., 0.])
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    rows = np.arange(n)
    own = Z[rows, idx]
    other = Z.copy()
    other[rows, idx] = -np.inf
    with np.errstate(invalid="ignore"):
        m = own - logsumexp(other, axis=1)
    # inf - inf (both saturated) carries no direction: call it 0
    m = np.where(np.isnan(m), 0.0, m)
    return np.clip(m, -MARGIN_CLIP, MARGIN_CLIP)


def margins(estimator, X, y) -> np.ndarray:
    """Correct-class margin of each row: ``logit_y - logsumexp(other logits)``.

    The logits are a skorch net's module output (found inside an
    :class:`~sklearn_unlearn.UnlearningClassifier` through ``estimator_``),
    else the ``decision_function`` of a linear model (binary: the logit of
    the positive class is ``+d``, of the negative ``-d`` relative to it, so
    the margin is ``d`` or ``-d``), else ``log(predict_proba)``. For a softmax
    model the margin is ``log(p_y / (1 - p_y))``, the statistic of the LiRA
    and KLoM papers. Values are clipped to [-100, 100].

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels, as in ``estimator.classes_``.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import margins
    >>> X, y = make_classification(n_samples=50, random_state=0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> m = margins(clf, X, y)
    >>> bool(np.allclose(m[y == 1], clf.decision_function(X)[y == 1]))
    True
    """
    Z = logits(estimator, X)
    if len(Z) != len(np.asarray(y)):
        raise ValueError(f"X has {len(Z)} rows but y has {len(np.asarray(y))}.")
    return margins_from_logits(Z, _class_index(estimator, y, Z.shape[1]))
