"""Pointwise losses of linear models, as functions of the linear predictor.

Each loss maps a linear predictor ``eta`` of shape ``(n, K)`` and an encoded
target to per-row values, first derivatives ``r = d loss / d eta`` of shape
``(n, K)`` and second derivatives ``A = d^2 loss / d eta^2`` of shape
``(n, K, K)``. The scalings are scikit-learn's own (see each class).

``third_derivative_bound`` is a constant ``L3`` such that the curvature in eta
is ``L3``-Lipschitz: ``||A(eta) - A(eta')||_2 <= L3 ||eta - eta'||_2``. It
feeds the certified-removal bound of Guo et al. (2020); ``None`` means no
global constant exists (log-link GLMs), so no certificate is given.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax


class BinomialLoss:
    """Logistic loss ``log(1 + exp(eta)) - y * eta`` with ``y`` in {0, 1}."""

    # max |sigma''(t)| = 1 / (6 sqrt(3)).
    third_derivative_bound = 1.0 / (6.0 * np.sqrt(3.0))
    second_derivative_bound = 0.25

    def value(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        e = eta[:, 0]
        return -log_expit(e) + (1.0 - y) * e

    def derivatives(self, eta: np.ndarray, y: np.ndarray):
        p = expit(eta[:, 0])
        r = (p - y)[:, None]
        A = (p * (1.0 - p))[:, None, None]
        return r, A

    def third_derivative(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``d^3 loss / d eta^3 = p (1 - p) (1 - 2 p)``, shape ``(n,)``."""
        p = expit(eta[:, 0])
        return p * (1.0 - p) * (1.0 - 2.0 * p)


class MultinomialLoss:
    """Cross-entropy ``logsumexp(eta) - eta_y`` with ``y`` a class index."""

    # ||d(diag(p) - p p^T)|| <= ||dp||_inf + 2 ||dp|| ||p|| <= 1/2 + 1 for a unit
    # direction, since ||dp|| <= ||diag(p) - p p^T|| <= 1/2.
    third_derivative_bound = 1.5
    second_derivative_bound = 0.5

    def value(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        idx = y.astype(np.intp)
        return logsumexp(eta, axis=1) - eta[np.arange(len(idx)), idx]

    def derivatives(self, eta: np.ndarray, y: np.ndarray):
        idx = y.astype(np.intp)
        p = softmax(eta, axis=1)
        r = p.copy()
        r[np.arange(len(idx)), idx] -= 1.0
        A = -p[:, :, None] * p[:, None, :]
        k = np.arange(p.shape[1])
        A[:, k, k] += p
        return r, A


class SquaredLoss:
    """Squared error ``scale * sum_k (y_k - eta_k)^2``.

    ``scale=1`` is the loss of ``LinearRegression``/``Ridge``/``RidgeClassifier``
    (their objective is ``sum_i w_i ||y_i - x_i W||^2 + alpha ||W||^2``);
    ``scale=0.5`` is the half deviance of ``TweedieRegressor(power=0)``.
    """

    third_derivative_bound = 0.0

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.second_derivative_bound = 2.0 * scale

    def value(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.scale * np.sum((_as_2d(y) - eta) ** 2, axis=1)

    def derivatives(self, eta: np.ndarray, y: np.ndarray):
        r = 2.0 * self.scale * (eta - _as_2d(y))
        K = eta.shape[1]
        A = np.broadcast_to(2.0 * self.scale * np.eye(K), (eta.shape[0], K, K))
        return r, A

    def third_derivative(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Zero: the loss is quadratic."""
        return np.zeros(eta.shape[0])


class HalfTweedieLogLoss:
    """Half Tweedie deviance with log link, as in ``sklearn._loss.HalfTweedieLoss``.

    ``loss = mu^(2-p)/(2-p) - y mu^(1-p)/(1-p)`` up to terms constant in eta,
    with ``mu = exp(eta)``; ``p=1`` is Poisson (``mu - y eta``) and ``p=2`` is
    Gamma (``eta + y / mu``).
    """

    third_derivative_bound = None
    second_derivative_bound = None

    def __init__(self, power: float):
        self.power = float(power)

    def value(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        e, p = eta[:, 0], self.power
        if p == 1.0:
            return np.exp(e) - y * e
        if p == 2.0:
            return e + y * np.exp(-e)
        return np.exp((2 - p) * e) / (2 - p) - y * np.exp((1 - p) * e) / (1 - p)

    def derivatives(self, eta: np.ndarray, y: np.ndarray):
        e, p = eta[:, 0], self.power
        m2 = np.exp((2 - p) * e)
        m1 = y * np.exp((1 - p) * e)
        r = (m2 - m1)[:, None]
        A = ((2 - p) * m2 - (1 - p) * m1)[:, None, None]
        return r, A

    def third_derivative(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``d^3 loss / d eta^3 = (2-p)^2 mu^(2-p) - (1-p)^2 y mu^(1-p)``."""
        e, p = eta[:, 0], self.power
        return (2 - p) ** 2 * np.exp((2 - p) * e) - (1 - p) ** 2 * y * np.exp(
            (1 - p) * e
        )


def _as_2d(y: np.ndarray) -> np.ndarray:
    return y[:, None] if y.ndim == 1 else y
