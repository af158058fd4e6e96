"""PUMA's re-weighting (eq. 10): the closed form against cvxpy, and both against KKT."""

import numpy as np
import pytest

from sklearn_unlearn.methods._puma_lambda import (
    reweighting_closed_form,
    reweighting_cvxpy,
    solve_reweighting,
)

CASES = [
    (0.0, 1.0, None),
    (0.1, 1e-2, None),
    (1e-3, 1e-2, (-1.0, 2.0)),
    (0.5, 0.3, (-0.1, 0.1)),
    (0.0, 1e-3, (0.0, np.inf)),
]


@pytest.mark.parametrize("l1, l2, bounds", CASES)
@pytest.mark.parametrize("n", [1, 7, 200])
@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_equals_cvxpy(l1, l2, bounds, n, seed):
    rng = np.random.default_rng(seed)
    psi, b = rng.normal(size=n), 5 * rng.normal()
    lam = reweighting_closed_form(psi, b, l1, l2, bounds)
    ref = reweighting_cvxpy(psi[:, None], np.array([b]), l1, l2, bounds)
    np.testing.assert_allclose(lam, ref, atol=1e-6)


@pytest.mark.parametrize("l1, l2, bounds", CASES)
def test_closed_form_satisfies_kkt(l1, l2, bounds):
    rng = np.random.default_rng(3)
    psi, b = rng.normal(size=50), 4.0
    lam = reweighting_closed_form(psi, b, l1, l2, bounds)
    lo, hi = (-np.inf, np.inf) if bounds is None else bounds
    grad = 2 * (psi @ lam - b) * psi + 2 * l2 * lam  # smooth part
    inside = (lam > lo + 1e-12) & (lam < hi - 1e-12)
    nz = inside & (lam != 0)
    np.testing.assert_allclose(grad[nz] + l1 * np.sign(lam[nz]), 0, atol=1e-9)
    zero = inside & (lam == 0)
    assert np.all(np.abs(grad[zero]) <= l1 + 1e-9)
    at_lo, at_hi = lam <= lo + 1e-12, lam >= hi - 1e-12
    assert np.all(grad[at_lo] + l1 * np.sign(lam[at_lo]) >= -1e-9)
    assert np.all(grad[at_hi] + l1 * np.sign(lam[at_hi]) <= 1e-9)


def test_vector_problem_is_least_squares():
    rng = np.random.default_rng(0)
    Psi, b = rng.normal(size=(30, 3)), rng.normal(size=3)
    lam = solve_reweighting(Psi, b, 0.0, 1e-2)
    ref = np.linalg.solve(Psi @ Psi.T + 1e-2 * np.eye(30), Psi @ b)
    np.testing.assert_allclose(lam, ref, atol=1e-7)


def test_dispatch_and_edge_cases():
    psi = np.array([[1.0], [2.0]])
    np.testing.assert_array_equal(solve_reweighting(psi, [0.0], 0.1, 1.0), [0, 0])
    assert solve_reweighting(np.zeros((0, 1)), [1.0], 0.1, 1.0).shape == (0,)
    with pytest.raises(ValueError, match="l2 > 0"):
        reweighting_closed_form(psi[:, 0], 1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="vector-valued"):
        solve_reweighting(np.ones((2, 2)), [1.0, 1.0], 0.0, 1.0, solver="closed_form")
    # l2 = 0 goes to cvxpy: a lasso with one observation
    lam = solve_reweighting(psi, [5.0], 0.1, 0.0)
    assert psi[:, 0] @ lam == pytest.approx(5.0 - 0.1 / (2 * 2.0), abs=1e-6)
