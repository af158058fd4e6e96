"""CholeskyCurvature: solves, rank-one and refactor updates, null directions."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_unlearn.curvature import (
    CholeskyCurvature,
    CurvatureOperator,
    NotPositiveDefiniteError,
    cholesky_rank_one_update,
)

SEED = 0
P = 7


def _spd(rng, p=P, n=40):
    G = rng.normal(size=(n, p))
    return G, G.T @ G + 0.5 * np.eye(p)


@pytest.mark.parametrize("damping", [0.0, 0.3])
@pytest.mark.parametrize("n_rhs", [None, 1, 3])
def test_solve_matches_numpy(damping, n_rhs):
    rng = np.random.default_rng(SEED)
    _, H = _spd(rng)
    v = rng.normal(size=P if n_rhs is None else (P, n_rhs))
    op = CholeskyCurvature(H, damping=damping)
    assert isinstance(op, CurvatureOperator)
    assert op.n_params == P
    got = op.solve(v)
    assert got.shape == v.shape
    assert_allclose(got, np.linalg.solve(H + damping * np.eye(P), v), rtol=1e-10)


def test_solve_validates_rhs():
    op = CholeskyCurvature(np.eye(3))
    with pytest.raises(ValueError, match="v has 4 rows but the curvature acts on 3"):
        op.solve(np.ones(4))
    with pytest.raises(ValueError, match="NaN or infinity"):
        op.solve(np.array([1.0, np.nan, 0.0]))


def test_non_symmetric_input_is_symmetrised():
    rng = np.random.default_rng(SEED)
    _, H = _spd(rng)
    skew = np.triu(rng.normal(size=(P, P)), 1) * 1e-3
    op = CholeskyCurvature(H + skew - skew.T)
    assert_allclose(op.matrix_, H, atol=1e-15)


@pytest.mark.parametrize("sign", [+1.0, -1.0])
def test_rank_one_update_in_place(sign):
    rng = np.random.default_rng(SEED)
    _, H = _spd(rng)
    x = 0.5 * rng.normal(size=P)
    L = np.linalg.cholesky(H)
    x_before = x.copy()
    cholesky_rank_one_update(L, x, sign)
    assert_array_equal(x, x_before)  # the vector is not consumed
    assert_allclose(L @ L.T, H + sign * np.outer(x, x), atol=1e-12)
    assert_allclose(np.triu(L, 1), 0.0)
    assert np.all(np.diag(L) > 0)


@pytest.mark.parametrize("path", ["rank-one", "refactor"])
@pytest.mark.parametrize(
    "n_remove, n_add", [(1, 0), (0, 1), (3, 0), (0, 2), (3, 2), (5, 4)]
)
def test_updated_matches_explicit_matrix(path, n_remove, n_add):
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    R = G[:n_remove].T
    A = rng.normal(size=(P, n_add))
    refactor_rank = 100 if path == "rank-one" else 0
    op = CholeskyCurvature(H, refactor_rank=refactor_rank)
    before = copy.deepcopy(op.__dict__)
    new = op.updated(remove=R, add=A)
    ref = H - R @ R.T + A @ A.T
    assert_allclose(new.matrix_, ref, atol=1e-12)
    assert_allclose(new.factor_ @ new.factor_.T, ref, atol=1e-10)
    v = rng.normal(size=(P, 2))
    assert_allclose(new.solve(v), np.linalg.solve(ref, v), rtol=1e-9)
    # the old operator is untouched
    assert_array_equal(op.factor_, before["factor_"])
    assert_array_equal(op.matrix_, before["matrix_"])
    assert_allclose(op.solve(v), np.linalg.solve(H, v), rtol=1e-10)


def test_both_paths_agree_and_default_limit_is_used():
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    R = G[:2].T
    fast = CholeskyCurvature(H, refactor_rank=10).updated(remove=R)
    slow = CholeskyCurvature(H, refactor_rank=0).updated(remove=R)
    default = CholeskyCurvature(H).updated(remove=R)  # p // 64 -> 1: refactor
    for op in (slow, default):
        assert_allclose(op.factor_, fast.factor_, atol=1e-12)


def test_updated_with_shift_and_delta():
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    shift = rng.uniform(0.0, 1.0, P)
    delta = -G[:4].T @ G[:4]
    new = CholeskyCurvature(H, refactor_rank=100).updated(shift=shift, delta=delta)
    ref = H + np.diag(shift) + delta
    v = rng.normal(size=P)
    assert_allclose(new.solve(v), np.linalg.solve(ref, v), rtol=1e-10)


def test_chained_updates_match_the_final_matrix():
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    op = CholeskyCurvature(H, refactor_rank=1)
    ref = H.copy()
    for i in range(20):
        op = op.updated(remove=G[i][:, None])
        ref -= np.outer(G[i], G[i])
    v = rng.normal(size=P)
    assert_allclose(op.solve(v), np.linalg.solve(ref, v), rtol=1e-8)


@pytest.mark.parametrize("refactor_rank", [100, 0])
def test_damping_is_kept_through_updates(refactor_rank):
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    op = CholeskyCurvature(H, damping=0.7, refactor_rank=refactor_rank)
    new = op.updated(remove=G[:2].T)
    ref = H - G[:2].T @ G[:2] + 0.7 * np.eye(P)
    v = rng.normal(size=P)
    assert_allclose(new.solve(v), np.linalg.solve(ref, v), rtol=1e-10)


def _singular(rng, p=P, rank=4):
    B = rng.normal(size=(rank, p))
    H = B.T @ B
    Z = np.linalg.svd(B)[2][rank:].T  # orthonormal basis of the null space
    return H, Z


@pytest.mark.parametrize("n_rhs", [None, 2])
def test_null_directions_give_the_minimum_norm_solution(n_rhs):
    rng = np.random.default_rng(SEED)
    H, Z = _singular(rng)
    b = H @ rng.normal(size=P if n_rhs is None else (P, n_rhs))  # b orthogonal to Z
    assert_allclose(Z.T @ b, 0.0, atol=1e-12)
    op = CholeskyCurvature(H, null_directions=Z)
    x = op.solve(b)
    assert_allclose(x, np.linalg.pinv(H) @ b, rtol=1e-8, atol=1e-10)
    assert_allclose(Z.T @ x, 0.0, atol=1e-10)
    assert_allclose(H @ x, b, atol=1e-9)


def test_singular_matrix_without_null_directions_is_refused():
    rng = np.random.default_rng(SEED)
    H, _ = _singular(rng)
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        CholeskyCurvature(H)


@pytest.mark.parametrize("path", ["rank-one", "refactor"])
def test_null_directions_survive_updates(path):
    rng = np.random.default_rng(SEED)
    H, Z = _singular(rng)
    a = rng.normal(size=(P, 1))
    a -= Z @ (Z.T @ a)  # a change that keeps the null space
    op = CholeskyCurvature(
        H, null_directions=Z, refactor_rank=100 if path == "rank-one" else 0
    )
    new = op.updated(add=a)
    b = H @ rng.normal(size=P)
    assert_allclose(
        new.solve(b), np.linalg.pinv(H + a @ a.T) @ b, rtol=1e-8, atol=1e-10
    )
    assert new.min_eigenvalue() > 0


@pytest.mark.parametrize("path", ["rank-one", "refactor"])
def test_indefinite_downdate_raises_and_keeps_the_operator(path):
    rng = np.random.default_rng(SEED)
    G, H = _spd(rng)
    op = CholeskyCurvature(H, refactor_rank=100 if path == "rank-one" else 0)
    factor, matrix = op.factor_.copy(), op.matrix_.copy()
    v = rng.normal(size=P)
    x_before = op.solve(v)
    # remove far more curvature than there is along the top eigenvector
    w, U = np.linalg.eigh(H)
    R = np.sqrt(2 * w[-1]) * U[:, -1:]
    with pytest.raises(NotPositiveDefiniteError, match="indefinite|not positive"):
        op.updated(remove=R)
    assert_array_equal(op.factor_, factor)
    assert_array_equal(op.matrix_, matrix)
    assert_array_equal(op.solve(v), x_before)
    # and it can still be updated correctly afterwards
    new = op.updated(remove=G[:1].T)
    assert_allclose(
        new.solve(v), np.linalg.solve(H - np.outer(G[0], G[0]), v), rtol=1e-9
    )


def test_not_positive_definite_error_is_a_value_error():
    assert issubclass(NotPositiveDefiniteError, ValueError)


def test_min_eigenvalue():
    rng = np.random.default_rng(SEED)
    _, H = _spd(rng)
    op = CholeskyCurvature(H, damping=0.25)
    exact = np.linalg.eigvalsh(H)[0]
    # a proven lower bound, within a few percent; the damping is excluded
    low = op.min_eigenvalue()
    assert 0.96 * exact <= low <= exact
    assert_allclose(op.min_eigenvalue(include_damping=True), low + 0.25)


@pytest.mark.parametrize("gap", [1e-6, 1e-2, 10.0])
def test_min_eigenvalue_is_a_lower_bound_whatever_the_spectrum(gap):
    """Clustered smallest eigenvalues slow inverse iteration: still a bound."""
    rng = np.random.default_rng(SEED)
    Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    w = np.r_[1.0, 1.0 + gap, np.linspace(5.0, 1e4, 28)]
    H = (Q * w) @ Q.T
    low = CholeskyCurvature(H).min_eigenvalue()
    assert 0.9 <= low <= 1.0


def test_min_eigenvalue_is_tracked_through_updates_and_stays_a_bound():
    rng = np.random.default_rng(SEED)
    A = rng.normal(size=(400, 12))
    H = A.T @ A + np.eye(12)
    op = CholeskyCurvature(H)
    op.min_eigenvalue()
    for i in range(0, 60, 3):
        R = A[i : i + 3].T
        op = op.updated(remove=R)
        H = H - R @ R.T
        exact = np.linalg.eigvalsh(H)[0]
        low = op.min_eigenvalue()
        assert 0.45 * exact <= low <= exact * (1 + 1e-12)
    dense = op.updated(delta=-np.outer(A[70], A[70]) + np.outer(A[71], A[71]))
    H = H - np.outer(A[70], A[70]) + np.outer(A[71], A[71])
    assert dense.min_eigenvalue() <= np.linalg.eigvalsh(H)[0] * (1 + 1e-12)


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_leverage_keeps_the_bound_through_many_single_rows(damping, monkeypatch):
    """A row's removal scales the bound by ``1 - leverage``: no recertification.

    Removing a row ``r`` whose norm lies along well-determined directions
    lowers the smallest eigenvalue by far less than ``||r||^2`` (Weyl's step),
    so the leverage bound must carry a long stream without recertifying.
    """
    rng = np.random.default_rng(SEED)
    A = 3.0 * rng.normal(size=(3000, 10))
    A[:, 0] *= 1e-3  # lambda_min ~ 1.03, each row's ||r||^2 ~ 80
    H = A.T @ A + np.eye(10)
    op = CholeskyCurvature(H, damping=damping)
    op.min_eigenvalue()
    calls = []
    real = CholeskyCurvature._certified_low
    monkeypatch.setattr(
        CholeskyCurvature,
        "_certified_low",
        lambda self: calls.append(1) or real(self),
    )
    for i in range(200):
        r = A[i]
        op = op.updated(remove=r[:, None])
        H = H - np.outer(r, r)
        low = op.min_eigenvalue()
        exact = np.linalg.eigvalsh(H)[0]
        assert low <= exact * (1 + 1e-12)
        assert low >= 0.45 * exact
    # the bound compounds (1 - leverage) per row; Weyl's step alone
    # (lambda_min - ||r||^2 < 0) would recertify at every row
    assert len(calls) <= 2


def test_leverage_bound_matches_its_definition():
    """``(1 - ||L^-1 R||_F^2) lambda_min(H)``, against an explicit inverse."""
    rng = np.random.default_rng(SEED)
    A = rng.normal(size=(200, 6))
    H = A.T @ A + 0.1 * np.eye(6)
    op = CholeskyCurvature(H)
    low = op.min_eigenvalue()
    R = A[:2].T
    rho = np.trace(R.T @ np.linalg.inv(H) @ R)
    tracked = op.updated(remove=R)._low
    assert_allclose(tracked, max(low - np.sum(R * R), (1 - rho) * low), rtol=1e-10)
    assert tracked <= np.linalg.eigvalsh(H - R @ R.T)[0]


def test_a_non_finite_matrix_is_refused():
    H = np.eye(4)
    H[2, 1] = H[1, 2] = np.nan
    with pytest.raises(NotPositiveDefiniteError):
        CholeskyCurvature(H)
    H[2, 1] = H[1, 2] = np.inf
    with pytest.raises(NotPositiveDefiniteError):
        CholeskyCurvature(H)
