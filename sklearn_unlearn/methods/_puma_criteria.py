"""Differentiable performance criteria for PUMA, and their gradients in theta.

A criterion ``C`` is a function of a model's outputs on a set of rows: class
probabilities for a probabilistic classifier, predictions otherwise. Each
criterion returns its value and its gradient with respect to those outputs;
:func:`criterion_gradient` chains that gradient through the model's link and
its linear predictor to give ``grad_theta C``. Several criteria, or one
criterion per group of rows, make ``C`` vector-valued: the gradient is then a
``(p, m)`` matrix, one column per component.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import softmax

__all__ = [
    "Brier",
    "CallableCriterion",
    "LogLoss",
    "SoftECE",
    "SquaredError",
    "criterion_gradient",
    "resolve_criteria",
]

_EPS = 1e-12


class LogLoss:
    """Mean cross-entropy ``-mean_i log p(y_i | x_i)`` of a probabilistic classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.inspection import LogLoss
    >>> value, grad = LogLoss().value_and_grad(np.array([0, 1]),
    ...                                        np.array([[0.5, 0.5], [0.5, 0.5]]))
    >>> round(value, 4), grad.shape
    (0.6931, (2, 2))
    """

    needs_proba = True
    name = "log_loss"

    def value_and_grad(self, y, proba):
        n = len(y)
        idx = np.arange(n), y.astype(np.intp)
        p = np.maximum(proba[idx], _EPS)
        grad = np.zeros_like(proba)
        grad[idx] = -1.0 / (n * p)
        return float(-np.mean(np.log(p))), grad


class Brier:
    """Brier score, as :func:`sklearn.metrics.brier_score_loss` computes it.

    Binary: ``mean (p_1 - y)^2``; multiclass: ``mean sum_k (p_k - [y = k])^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.inspection import Brier
    >>> value, _ = Brier().value_and_grad(np.array([0, 1]),
    ...                                   np.array([[0.75, 0.25], [0.5, 0.5]]))
    >>> float(value)
    0.15625
    """

    needs_proba = True
    name = "brier"

    def value_and_grad(self, y, proba):
        n, K = proba.shape
        E = np.zeros_like(proba)
        E[np.arange(n), y.astype(np.intp)] = 1.0
        D = proba - E
        if K == 2:  # scikit-learn scales the binary score by one half
            grad = np.zeros_like(proba)
            grad[:, 1] = 2.0 * D[:, 1] / n
            return float(np.mean(D[:, 1] ** 2)), grad
        return float(np.mean(np.sum(D**2, axis=1))), 2.0 * D / n


class SquaredError:
    """Mean squared error ``mean_i ||y_i - f(x_i)||^2`` of the model's predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.inspection import SquaredError
    >>> value, grad = SquaredError().value_and_grad(np.array([1.0, 2.0]),
    ...                                             np.array([1.0, 4.0]))
    >>> value, grad.tolist()
    (2.0, [0.0, 2.0])
    """

    needs_proba = False
    name = "squared_error"

    def value_and_grad(self, y, pred):
        Y = y.reshape(pred.shape)
        D = pred - Y
        n = pred.shape[0]
        return float(np.sum(D**2) / n), 2.0 * D / n


class SoftECE:
    """Differentiable expected calibration error of the top-label confidence.

    Guo et al. (2017)'s ECE bins rows by their confidence ``s_i = max_k p_ik``
    and sums ``|B_b|/n * |acc_b - conf_b|`` over the bins, i.e.
    ``(1/n) sum_b |sum_{i in b} (a_i - s_i)|`` with ``a_i = [argmax p_i = y_i]``.
    The hard bin membership and the absolute value are not differentiable;
    as in soft-binned calibration objectives (Karandikar et al., 2021) each
    row belongs to every bin with weight ``w_ib = softmax_b(-(s_i - mu_b)^2 /
    sigma^2)`` (bin centres ``mu_b``, ``sigma = bandwidth / n_bins``) and
    ``|.|`` is smoothed to ``sqrt(x^2 + delta^2) - delta``. The correctness
    ``a_i`` is piecewise constant in the parameters (zero gradient almost
    everywhere) and is held fixed.

    Parameters
    ----------
    n_bins : int, default=15
    bandwidth : float, default=0.5
        Bin-membership width, in bin widths; small values approach hard bins.
    delta : float, default=1e-4
        Smoothing of the absolute value.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.inspection import SoftECE, expected_calibration_error
    >>> y = np.array([0, 1, 1, 0])
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    >>> value, grad = SoftECE(bandwidth=0.1).value_and_grad(y, proba)
    >>> grad.shape, abs(value - expected_calibration_error(y, proba)) < 0.1
    ((4, 2), True)
    """

    needs_proba = True
    name = "ece"

    def __init__(self, n_bins: int = 15, bandwidth: float = 0.5, delta: float = 1e-4):
        self.n_bins = n_bins
        self.bandwidth = bandwidth
        self.delta = delta

    def value_and_grad(self, y, proba):
        n = proba.shape[0]
        top = np.argmax(proba, axis=1)
        s = proba[np.arange(n), top]
        a = (top == y.astype(np.intp)).astype(np.float64)
        mu = (np.arange(self.n_bins) + 0.5) / self.n_bins
        sigma2 = (self.bandwidth / self.n_bins) ** 2
        diff = s[:, None] - mu[None, :]
        w = softmax(-(diff**2) / sigma2, axis=1)  # (n, B)
        d = w.T @ (a - s) / n  # (B,) soft per-bin gaps, weighted by bin mass
        root = np.sqrt(d**2 + self.delta**2)
        value = float(np.sum(root - self.delta))
        rho = d / root
        dz = -2.0 * diff / sigma2  # d z_ib / d s_i
        dw = w * (dz - np.sum(w * dz, axis=1, keepdims=True))
        ds = (dw * (a - s)[:, None] - w) @ rho / n
        grad = np.zeros_like(proba)
        grad[np.arange(n), top] = ds
        return value, grad


class CallableCriterion:
    """A user criterion ``func(y_true, y_pred) -> (value, gradient)``.

    ``y_pred`` is ``predict_proba``'s output for a probabilistic classifier and
    the predictions otherwise; ``gradient`` has the shape of ``y_pred``.
    """

    name = "callable"

    def __init__(self, func: Callable, needs_proba: bool, classes=None):
        self.func = func
        self.needs_proba = needs_proba
        self.classes = classes

    def value_and_grad(self, y, out):
        y_true = y if self.classes is None else self.classes[y.astype(np.intp)]
        y_pred = out[:, 0] if out.shape[1] == 1 and not self.needs_proba else out
        result = self.func(y_true, y_pred)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                "A callable criterion must return (value, gradient): the criterion "
                "and its gradient with respect to y_pred."
            )
        value, grad = result
        grad = np.asarray(grad, dtype=np.float64).reshape(out.shape)
        if not np.all(np.isfinite(grad)) or not np.isfinite(value):
            raise ValueError("The callable criterion returned NaN or infinity.")
        return float(value), grad


_NAMED = {
    "log_loss": LogLoss,
    "brier": Brier,
    "ece": SoftECE,
    "squared_error": SquaredError,
}


def resolve_criteria(spec, adapter) -> list:
    """Criterion objects for ``spec`` (a name, a callable, an object or a list)."""
    probabilistic = adapter.gives_probabilities
    if isinstance(spec, str) and spec == "auto":
        spec = "log_loss" if probabilistic else "squared_error"
    items = (
        list(spec)
        if isinstance(spec, Sequence) and not isinstance(spec, str)
        else [spec]
    )
    if not items:
        raise ValueError("criterion is an empty list; give at least one criterion.")
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in _NAMED:
                raise ValueError(
                    f"Unknown criterion {item!r}; use one of {sorted(_NAMED)}, "
                    "'auto', a callable or a list of these."
                )
            item = _NAMED[item]()
        elif callable(item) and not hasattr(item, "value_and_grad"):
            classes = adapter.classes_ if probabilistic else None
            item = CallableCriterion(item, probabilistic, classes)
        elif not hasattr(item, "value_and_grad"):
            raise TypeError(
                f"criterion must be a name, a callable or a list of these, got "
                f"{type(item).__name__}."
            )
        if item.needs_proba and not probabilistic:
            raise ValueError(
                f"criterion {item.name!r} needs class probabilities, which "
                f"{adapter.model_name} does not give; use 'squared_error'."
            )
        out.append(item)
    return out


def criterion_gradient(adapter, theta, X, y_enc, criteria, groups=None, labels=None):
    """Values and ``grad_theta`` of every criterion on every group of rows.

    Parameters
    ----------
    adapter : LinearAdapter or SkorchAdapter
    theta : ndarray or torch.Tensor of shape (p,)
    X : {ndarray, sparse matrix} of shape (n, d)
    y_enc : ndarray
        Targets in the adapter's encoding.
    criteria : list of criterion objects
    groups : ndarray of shape (n,), default=None
        A group label per row; with ``labels`` each criterion is evaluated on
        each group separately (a group without rows contributes zero).
    labels : ndarray, default=None
        The group labels, in column order.

    Returns
    -------
    values : ndarray of shape (m,)
    G : ndarray or torch.Tensor of shape (p, m)
        ``m = len(criteria) * max(1, len(labels))``, criteria-major; a float64
        tensor on the net's device for a net.
    """
    out, pull = adapter.output_pullback(theta, X)
    masks = [None] if labels is None else [np.asarray(groups == g) for g in labels]
    y_idx = np.asarray(y_enc)
    values, grads = [], []
    for crit in criteria:
        for mask in masks:
            g_full = np.zeros_like(out)
            if mask is not None and not mask.any():
                values.append(0.0)
                grads.append(g_full)
                continue
            rows = slice(None) if mask is None else mask
            value, g_out = crit.value_and_grad(y_idx[rows], out[rows])
            g_full[rows] = g_out
            values.append(value)
            grads.append(g_full)
    return np.asarray(values), pull(np.stack(grads))
