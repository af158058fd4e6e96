"""LowRankCurvature against explicit dense inverses."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn_unlearn.curvature import (  # noqa: E402
    LowRankCurvature,
    NotPositiveDefiniteError,
)

P = 12


def _factor(n_cols, seed=0, decay=None):
    g = torch.Generator().manual_seed(seed)
    V = torch.randn(P, n_cols, generator=g, dtype=torch.float64)
    if decay is not None:  # a spectrum that falls off, as a trained net's does
        U, _, W = torch.linalg.svd(V, full_matrices=False)
        s = decay ** torch.arange(U.shape[1], dtype=torch.float64)
        V = (U * s) @ W
    return V


def _chunks(V, size=3):
    return lambda: [V[:, i : i + size] for i in range(0, V.shape[1], size)]


def _floor(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(P, generator=g, dtype=torch.float64) + 0.1


def test_dual_form_is_exact_with_a_per_coordinate_floor():
    V, floor = _factor(5), _floor()
    op = LowRankCurvature.exact(_chunks(V), P, floor=floor, damping=0.2)
    A = V @ V.T + torch.diag(floor + 0.2)
    B = torch.randn(P, 4, dtype=torch.float64)
    torch.testing.assert_close(op.solve(B), torch.linalg.solve(A, B))
    torch.testing.assert_close(op.matvec(B[:, 0]), A @ B[:, 0])
    assert op.kind == "dual" and op.rank == 5


def test_dual_form_drops_the_null_space_of_a_wide_factor():
    V = _factor(3)
    V = torch.cat([V, V[:, :2] * 2.0], dim=1)  # 5 columns, rank 3
    op = LowRankCurvature.exact(_chunks(V, 2), P, floor=0.5)
    assert op.rank == 3
    b = torch.ones(P, dtype=torch.float64)
    A = V @ V.T + 0.5 * torch.eye(P, dtype=torch.float64)
    torch.testing.assert_close(op.solve(b), torch.linalg.solve(A, b))


def test_randomized_is_exact_when_the_rank_covers_the_matrix():
    V, floor = _factor(30), _floor()
    op = LowRankCurvature.randomized(
        _chunks(V, 7), P, rank=P, floor=floor, damping=0.1, scale=2.0
    )
    A = 2.0 * V @ V.T + torch.diag(floor + 0.1)
    b = torch.randn(P, dtype=torch.float64)
    torch.testing.assert_close(op.solve(b), torch.linalg.solve(A, b))


def test_randomized_finds_the_top_eigenpairs():
    V = _factor(40, decay=0.3)
    M = V @ V.T
    top = torch.linalg.eigvalsh(M).flip(0)[:3]
    op = LowRankCurvature.randomized(
        _chunks(V, 8),
        P,
        rank=3,
        floor=1e-3,
        n_power_iter=2,
        random_state=3,
        residual_diagonal=False,
    )
    torch.testing.assert_close(op.s_, top, rtol=1e-6, atol=1e-9)
    # the truncation error of the solve is that of the dropped eigenvalues
    lam, Q = torch.linalg.eigh(M)
    kept = (Q[:, -3:] * lam[-3:]) @ Q[:, -3:].T
    b = torch.randn(P, dtype=torch.float64)
    A = kept + 1e-3 * torch.eye(P, dtype=torch.float64)
    torch.testing.assert_close(op.solve(b), torch.linalg.solve(A, b), rtol=1e-5, atol=0)


def test_updated_is_exact_in_the_span_and_clips_what_turns_negative():
    V, floor = _factor(4), _floor()
    op = LowRankCurvature.exact(_chunks(V), P, floor=floor, damping=0.1)
    A_in = _factor(2, seed=5)
    R = V[:, :1] * 0.5
    shift = -0.05 * torch.ones(P, dtype=torch.float64)
    new = op.updated(add=A_in, remove=R, shift=shift)
    M = V @ V.T + A_in @ A_in.T - R @ R.T
    A = M + torch.diag(floor - 0.05 + 0.1)
    b = torch.randn(P, dtype=torch.float64)
    torch.testing.assert_close(new.solve(b), torch.linalg.solve(A, b))
    assert new.rank == op.rank + 2  # removal adds no eigenpair
    too_much = op.updated(remove=V[:, :1] * 3.0)
    assert too_much.rank < op.rank and bool((too_much.s_ > 0).all())
    torch.testing.assert_close(
        op.solve(b), torch.linalg.solve(V @ V.T + torch.diag(floor + 0.1), b)
    )  # self is unchanged


def test_solve_keeps_the_namespace_and_checks_its_input():
    op = LowRankCurvature.exact(_chunks(_factor(3)), P, floor=1.0)
    out = op.solve(np.ones(P, dtype=np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        op.solve(torch.ones(P + 1))
    with pytest.raises(ValueError, match="NaN"):
        op.solve(torch.full((P,), float("nan")))


def test_a_zero_floor_without_damping_is_refused():
    with pytest.raises(NotPositiveDefiniteError, match="add damping"):
        LowRankCurvature.exact(_chunks(_factor(3)), P, floor=0.0)


def test_memory_is_linear_in_p():
    op = LowRankCurvature.exact(_chunks(_factor(4)), P, floor=1.0)
    assert op.memory_bytes < 2 * P * 4 * 8 + 4 * 4 * 8 + 3 * P * 8


def test_the_dropped_spectrum_joins_the_floor_as_its_diagonal():
    V = _factor(40, decay=0.5)
    op = LowRankCurvature.randomized(
        _chunks(V, 8), P, rank=4, floor=0.1, scale=3.0, n_power_iter=3
    )
    M = 3.0 * V @ V.T
    kept = (op.U_ * op.s_) @ op.U_.T
    residual = torch.diagonal(M - kept).clamp_min(0.0)
    torch.testing.assert_close(op.floor_, 0.1 + residual)
    A = kept + torch.diag(0.1 + residual)
    b = torch.randn(P, dtype=torch.float64)
    torch.testing.assert_close(op.solve(b), torch.linalg.solve(A, b))
