"""Pointwise losses: derivatives by finite differences, scaling, curvature bounds."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import log_loss, mean_tweedie_deviance

from sklearn_unlearn.adapters._losses import (
    BinomialLoss,
    HalfTweedieLogLoss,
    MultinomialLoss,
    SquaredLoss,
)

SEED = 0
N_ROWS = 25


def _make_case(name, rng):
    """A loss, linear predictors ``eta`` (n, K) and encoded targets."""
    if name == "binomial":
        return BinomialLoss(), rng.normal(0, 2, (N_ROWS, 1)), rng.integers(0, 2, N_ROWS)
    if name == "multinomial":
        K = 4
        eta = rng.normal(0, 2, (N_ROWS, K))
        return MultinomialLoss(), eta, rng.integers(0, K, N_ROWS).astype(float)
    if name.startswith("squared"):
        scale = float(name.split("-")[1])
        K = int(name.split("-")[2])
        y = rng.normal(size=(N_ROWS, K))
        y = y.ravel() if K == 1 else y
        return SquaredLoss(scale), rng.normal(size=(N_ROWS, K)), y
    power = float(name.split("-")[1])
    eta = rng.normal(0, 0.7, (N_ROWS, 1))
    y = rng.gamma(2.0, 1.0, N_ROWS)
    if power == 1.0:
        y[::3] = 0.0  # Poisson allows zeros
    return HalfTweedieLogLoss(power), eta, y


CASES = [
    "binomial",
    "multinomial",
    "squared-1.0-1",
    "squared-0.5-1",
    "squared-1.0-3",
    "squared-0.5-3",
    "tweedie-1",
    "tweedie-1.5",
    "tweedie-2",
    "tweedie-3",
]


def _fd_first(loss, eta, y, h=1e-6):
    n, K = eta.shape
    g = np.empty((n, K))
    for k in range(K):
        e = np.zeros(K)
        e[k] = h
        g[:, k] = (loss.value(eta + e, y) - loss.value(eta - e, y)) / (2 * h)
    return g


def _fd_second(loss, eta, y, h=1e-5):
    n, K = eta.shape
    A = np.empty((n, K, K))
    for k in range(K):
        e = np.zeros(K)
        e[k] = h
        rp, _ = loss.derivatives(eta + e, y)
        rm, _ = loss.derivatives(eta - e, y)
        A[:, :, k] = (rp - rm) / (2 * h)
    return A


@pytest.mark.parametrize("name", CASES)
def test_first_derivative_matches_finite_differences(name):
    loss, eta, y = _make_case(name, np.random.default_rng(SEED))
    r, _ = loss.derivatives(eta, y)
    assert r.shape == eta.shape
    assert_allclose(r, _fd_first(loss, eta, y), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", CASES)
def test_second_derivative_matches_finite_differences(name):
    loss, eta, y = _make_case(name, np.random.default_rng(SEED))
    _, A = loss.derivatives(eta, y)
    n, K = eta.shape
    assert A.shape == (n, K, K)
    assert_allclose(A, _fd_second(loss, eta, y), rtol=1e-6, atol=1e-7)
    assert_allclose(A, np.swapaxes(A, 1, 2), atol=1e-15)


@pytest.mark.parametrize("name", CASES)
def test_second_derivative_bound_holds(name):
    loss, eta, y = _make_case(name, np.random.default_rng(SEED))
    bound = loss.second_derivative_bound
    if bound is None:
        return
    eta = np.vstack([eta, 10 * eta, 0 * eta])
    y = np.concatenate([y, y, y])
    _, A = loss.derivatives(eta, y)
    assert np.linalg.norm(A, ord=2, axis=(1, 2)).max() <= bound * (1 + 1e-12)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0, 3.0])
def test_tweedie_is_half_deviance_up_to_a_constant(power):
    # scikit-learn's GLMs minimise the half deviance; differences in eta of our
    # loss must equal differences of half the deviance
    rng = np.random.default_rng(SEED)
    y = rng.gamma(2.0, 1.0, 10)
    if power == 1.0:
        y[::3] = 0.0
    e1, e2 = rng.normal(size=(10, 1)), rng.normal(size=(10, 1))
    loss = HalfTweedieLogLoss(power)
    ours = loss.value(e1, y) - loss.value(e2, y)
    ref = [
        0.5
        * (
            mean_tweedie_deviance([yi], [np.exp(a)], power=power)
            - mean_tweedie_deviance([yi], [np.exp(b)], power=power)
        )
        for yi, a, b in zip(y, e1[:, 0], e2[:, 0], strict=True)
    ]
    assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_binomial_and_multinomial_values_are_log_loss():
    rng = np.random.default_rng(SEED)
    eta = rng.normal(0, 3, (30, 1))
    y = rng.integers(0, 2, 30)
    p = 1 / (1 + np.exp(-eta[:, 0]))
    ours = BinomialLoss().value(eta, y.astype(float)).mean()
    assert_allclose(ours, log_loss(y, p, labels=[0, 1]), rtol=1e-12)

    eta = rng.normal(0, 3, (30, 3))
    y = rng.integers(0, 3, 30)
    P = np.exp(eta - eta.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    ours = MultinomialLoss().value(eta, y.astype(float)).mean()
    assert_allclose(ours, log_loss(y, P, labels=[0, 1, 2]), rtol=1e-12)


def test_binomial_value_is_stable_for_large_eta():
    eta = np.array([[800.0], [-800.0]])
    v = BinomialLoss().value(eta, np.array([1.0, 0.0]))
    assert np.all(np.isfinite(v))
    assert_allclose(v, 0.0, atol=1e-300)


@pytest.mark.parametrize(
    "name, K",
    [("binomial", 1)]
    + [("multinomial", K) for K in (2, 3, 5, 10)]
    + [("squared", K) for K in (1, 3)],
)
def test_third_derivative_bound_is_a_lipschitz_constant(name, K):
    # ||A(a) - A(b)||_2 <= L3 ||a - b||_2 for random pairs at every scale
    rng = np.random.default_rng(SEED + K)
    loss = {
        "binomial": BinomialLoss(),
        "multinomial": MultinomialLoss(),
        "squared": SquaredLoss(1.0),
    }[name]
    L3 = loss.third_derivative_bound
    assert L3 is not None and L3 >= 0
    m = 4000
    a = rng.normal(0, 3, (m, K))
    scale = 10.0 ** rng.uniform(-4, 1, (m, 1))
    b = a + scale * rng.normal(size=(m, K))
    y = rng.integers(0, max(K, 2), m).astype(float) if K > 1 else np.zeros(m)
    if name == "squared":
        y = rng.normal(size=(m, K))
    _, Aa = loss.derivatives(a, y)
    _, Ab = loss.derivatives(b, y)
    lhs = np.linalg.norm(Aa - Ab, ord=2, axis=(1, 2))
    rhs = L3 * np.linalg.norm(a - b, axis=1)
    assert np.all(lhs <= rhs * (1 + 1e-9) + 1e-15)


def test_binomial_third_derivative_bound_is_tight():
    # the sup of |d/deta p(1-p)| is reached near p = 1/2 +- 1/(2 sqrt 3)
    loss = BinomialLoss()
    t = np.log((3 + np.sqrt(3)) / (3 - np.sqrt(3)))
    a = np.array([[t - 1e-5]])
    b = np.array([[t + 1e-5]])
    _, Aa = loss.derivatives(a, np.zeros(1))
    _, Ab = loss.derivatives(b, np.zeros(1))
    ratio = abs(Aa - Ab).item() / 2e-5
    assert_allclose(ratio, loss.third_derivative_bound, rtol=1e-6)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0, 3.0])
def test_log_link_has_no_global_curvature_bound(power):
    loss = HalfTweedieLogLoss(power)
    assert loss.third_derivative_bound is None
    assert loss.second_derivative_bound is None
