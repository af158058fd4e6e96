"""EmpiricalFisherInverse: Woodbury blocks equal SSSE's row-by-row recursion."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_unlearn.curvature import (
    CurvatureOperator,
    EmpiricalFisherInverse,
    NotPositiveDefiniteError,
)

SEED = 0
P, N = 6, 50


def _data(seed=SEED):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(N, P))  # per-row gradients g_i
    c = rng.uniform(0.2, 2.0, N)  # row weights c_i
    D = rng.uniform(0.1, 1.0, P)
    return G, c, D


def _naive_sherman_morrison(D, G, c):
    """SSSE eq. (3), one row at a time, exactly as written in the paper."""
    Finv = np.diag(1.0 / D)
    for g, ci in zip(G, c, strict=True):
        Fg = Finv @ g
        Finv = Finv - np.outer(Fg, Fg) / (1.0 / ci + g @ Fg)
    return Finv


@pytest.mark.parametrize("block_rows", [1, 3, 256])
def test_equals_explicit_inverse(block_rows):
    G, c, D = _data()
    U = (G * np.sqrt(c)[:, None]).T
    op = EmpiricalFisherInverse(D, block_rows=block_rows).updated(add=U)
    assert isinstance(op, CurvatureOperator)
    F = np.diag(D) + G.T @ (c[:, None] * G)
    assert_allclose(op.inverse_, np.linalg.inv(F), rtol=1e-9, atol=1e-12)
    v = np.random.default_rng(SEED).normal(size=(P, 2))
    assert_allclose(op.solve(v), np.linalg.solve(F, v), rtol=1e-9)
    assert_allclose(op.inverse_, op.inverse_.T, atol=1e-15)


@pytest.mark.parametrize("block_rows", [1, 3, 256])
def test_equals_naive_row_by_row_recursion(block_rows):
    G, c, D = _data()
    U = (G * np.sqrt(c)[:, None]).T
    op = EmpiricalFisherInverse(D, block_rows=block_rows).updated(add=U)
    assert_allclose(op.inverse_, _naive_sherman_morrison(D, G, c), rtol=1e-9)


@pytest.mark.parametrize("block_rows", [1, 3, 256])
@pytest.mark.parametrize("n_remove", [1, 7])
def test_downdate_equals_inverse_without_the_rows(block_rows, n_remove):
    G, c, D = _data()
    U = (G * np.sqrt(c)[:, None]).T
    full = EmpiricalFisherInverse(D, block_rows=block_rows).updated(add=U)
    before = full.inverse_.copy()
    down = full.updated(remove=U[:, :n_remove])
    keep = slice(n_remove, None)
    F = np.diag(D) + G[keep].T @ (c[keep, None] * G[keep])
    assert_allclose(down.inverse_, np.linalg.inv(F), rtol=1e-8, atol=1e-12)
    assert_allclose(down.inverse_, _naive_sherman_morrison(D, G[keep], c[keep]))
    assert_array_equal(full.inverse_, before)  # updated() returns a new operator
    assert down.block_rows == block_rows


def test_add_and_remove_in_one_call():
    G, c, D = _data()
    U = (G * np.sqrt(c)[:, None]).T
    op = EmpiricalFisherInverse(D, block_rows=4).updated(add=U[:, :30])
    op = op.updated(add=U[:, 30:], remove=U[:, :10])
    F = np.diag(D) + G[10:].T @ (c[10:, None] * G[10:])
    assert_allclose(op.inverse_, np.linalg.inv(F), rtol=1e-8)


def test_one_dimensional_factor_is_one_row():
    G, c, D = _data()
    op = EmpiricalFisherInverse(D).updated(add=G[0])
    F = np.diag(D) + np.outer(G[0], G[0])
    assert_allclose(op.inverse_, np.linalg.inv(F))


@pytest.mark.parametrize("block_rows", [1, 256])
def test_indefinite_downdate_raises_and_keeps_the_operator(block_rows):
    G, c, D = _data()
    U = (G * np.sqrt(c)[:, None]).T
    op = EmpiricalFisherInverse(D, block_rows=block_rows).updated(add=U)
    before = op.inverse_.copy()
    with pytest.raises(NotPositiveDefiniteError, match="indefinite"):
        op.updated(remove=10.0 * U[:, :2])
    assert_array_equal(op.inverse_, before)


@pytest.mark.parametrize("bad", [np.zeros(P), -np.ones(P)])
def test_diagonal_must_be_positive(bad):
    with pytest.raises(ValueError, match="strictly positive"):
        EmpiricalFisherInverse(bad)


def test_solve_validates_rhs():
    op = EmpiricalFisherInverse(np.ones(3))
    with pytest.raises(ValueError, match="v has 2 rows"):
        op.solve(np.ones(2))
