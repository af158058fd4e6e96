"""TorchCholeskyCurvature: solves vs explicit inverses, updates vs fresh solves."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn_unlearn.curvature import (  # noqa: E402
    NotPositiveDefiniteError,
    TorchCholeskyCurvature,
)


def _gn(tiny_net, rows=slice(None)):
    net, adapter, X, y, c, _ = tiny_net(4)
    theta = adapter.get_theta(net)
    lam = adapter.penalty_strength(float(c.sum()))
    M = adapter.gauss_newton(theta, X, y, c) + lam * torch.diag(adapter.penalty_mask)
    return adapter, theta, X, y, c, M


def test_gauss_newton_factor_reproduces_the_matrix(tiny_net):
    adapter, theta, X, y, c, _ = _gn(tiny_net)
    V = adapter.gauss_newton_factor(theta, X, y, c)
    assert V.shape == (adapter.n_params, 2 * X.shape[0])  # softmax: K - 1
    torch.testing.assert_close(V @ V.T, adapter.gauss_newton(theta, X, y, c))


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_solve_equals_the_explicit_inverse(tiny_net, damping):
    adapter, theta, X, y, c, M = _gn(tiny_net)
    op = TorchCholeskyCurvature(M, damping=damping)
    B = torch.randn(adapter.n_params, 2, dtype=torch.float64)
    inv = torch.linalg.inv(M + damping * torch.eye(adapter.n_params))
    torch.testing.assert_close(op.solve(B), inv @ B)
    torch.testing.assert_close(op.solve(B[:, 0].float()), (inv @ B[:, 0]).float())
    out = op.solve(B[:, 0].numpy())  # NumPy in, NumPy out
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, (inv @ B[:, 0]).numpy(), rtol=1e-6, atol=1e-9)


def test_downdate_equals_a_rebuilt_matrix(tiny_net):
    adapter, theta, X, y, c, M = _gn(tiny_net)
    op = TorchCholeskyCurvature(M, damping=1e-3)
    R = adapter.gauss_newton_factor(theta, X[:5], y[:5], c[:5])
    A = adapter.gauss_newton_factor(theta, X[5:7] + 1.0, y[5:7], c[5:7])
    shift = -0.2 * adapter.penalty_mask
    new = op.updated(add=A, remove=R, shift=shift)
    rebuilt = M + A @ A.T - R @ R.T + torch.diag(shift)
    torch.testing.assert_close(new.matrix_, rebuilt)
    v = torch.randn(adapter.n_params, dtype=torch.float64)
    x = torch.linalg.solve(rebuilt + 1e-3 * torch.eye(adapter.n_params), v)
    torch.testing.assert_close(new.solve(v), x)
    torch.testing.assert_close(op.matrix_, M)  # the old operator is unchanged


def test_indefinite_downdate_raises_and_keeps_the_operator(tiny_net):
    adapter, theta, X, y, c, M = _gn(tiny_net)
    op = TorchCholeskyCurvature(M)
    before = op.inverse_.clone()
    with pytest.raises(NotPositiveDefiniteError):
        op.updated(shift=-10.0 * torch.ones(adapter.n_params))
    R = adapter.gauss_newton_factor(theta, X, y, c)
    with pytest.raises(NotPositiveDefiniteError):  # by Woodbury, no refactorisation
        op.updated(remove=3.0 * R)
    assert torch.equal(op.inverse_, before)
    assert op.pending_.abs().max() == 0
    with pytest.raises(NotPositiveDefiniteError):
        TorchCholeskyCurvature(-M)


def _true_solve(M, damping, v):
    return torch.linalg.solve(M + damping * torch.eye(M.shape[0], dtype=M.dtype), v)


def test_pending_shift_is_solved_by_the_neumann_series(tiny_net):
    adapter, theta, X, y, c, M = _gn(tiny_net)
    lam = adapter.penalty_strength(float(c.sum()))
    floor = lam * adapter.penalty_mask
    op = TorchCholeskyCurvature(M, damping=1e-3, floor=floor)
    R = adapter.gauss_newton_factor(theta, X[:2], y[:2], c[:2])
    shift = -adapter.penalty_strength(float(c[:2].sum())) * adapter.penalty_mask
    new = op.updated(remove=R, shift=shift)
    assert new.n_refactorizations_ == 0  # a small shift stays pending
    torch.testing.assert_close(new.pending_, -shift)
    rebuilt = M - R @ R.T + torch.diag(shift)
    torch.testing.assert_close(new.matrix_, rebuilt)
    v = torch.randn(adapter.n_params, 2, dtype=torch.float64)
    torch.testing.assert_close(
        new.solve(v), _true_solve(rebuilt, 1e-3, v), rtol=1e-11, atol=1e-13
    )
    assert new.last_solve_["n_refine"] >= 1
    left = adapter.penalty_strength(float(c[2:].sum()))  # the penalty now
    assert new.last_solve_["rate"] == pytest.approx((lam - left) / (left + 1e-3))


def test_large_shift_refactorises(tiny_net):
    adapter, theta, X, y, c, M = _gn(tiny_net)
    lam = adapter.penalty_strength(float(c.sum()))
    op = TorchCholeskyCurvature(M, floor=lam * adapter.penalty_mask, max_shift=0.1)
    shift = -0.2 * lam * adapter.penalty_mask
    new = op.updated(shift=shift)
    assert new.n_refactorizations_ == 1 and new.pending_.abs().max() == 0
    v = torch.randn(adapter.n_params, dtype=torch.float64)
    torch.testing.assert_close(new.solve(v), _true_solve(M + torch.diag(shift), 0, v))
    assert new.last_solve_["n_refine"] == 0


@pytest.mark.parametrize("refactor_every", [None, 7])
def test_a_stream_of_requests_stays_at_the_exact_solve(tiny_net, refactor_every):
    """30 requests (removals, additions, penalty shifts) vs a fresh solve each."""
    net, adapter, X, y, c, gen = tiny_net(4)
    theta = adapter.get_theta(net)
    big = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    yb = torch.randint(0, 3, (200,), generator=gen)
    w = 200.0
    lam = adapter.penalty_strength(w)
    mask = adapter.penalty_mask
    M = adapter.gauss_newton(theta, big, yb) + lam * torch.diag(mask)
    op = TorchCholeskyCurvature(
        M, damping=1e-4, floor=lam * mask, refactor_every=refactor_every
    )
    keep = torch.ones(200, dtype=torch.bool)
    for i in range(30):
        idx = torch.nonzero(keep).ravel()[:3]
        keep[idx] = False
        R = adapter.gauss_newton_factor(theta, big[idx], yb[idx])
        A = None
        if i % 5 == 4:  # a relabel: one row comes back with another label
            keep[idx[0]] = True
            yb[idx[0]] = (yb[idx[0]] + 1) % 3
            A = adapter.gauss_newton_factor(theta, big[idx[:1]], yb[idx[:1]])
        n_new = float(keep.sum())
        shift = (adapter.penalty_strength(n_new) - lam) * mask
        lam = adapter.penalty_strength(n_new)
        op = op.updated(add=A, remove=R, shift=shift)
        exact = adapter.gauss_newton(theta, big[keep], yb[keep]) + lam * torch.diag(
            mask
        )
        torch.testing.assert_close(op.matrix_, exact, rtol=1e-10, atol=1e-10)
        v = torch.randn(adapter.n_params, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(
            op.solve(v), _true_solve(exact, 1e-4, v), rtol=1e-9, atol=1e-11
        )
    assert op.n_refactorizations_ >= 1  # 90 of 200 rows left: shifts refactorised


def test_the_cached_inverse_is_row_major():
    """A column-major inverse makes every product with it several times slower."""
    from sklearn_unlearn.curvature import TorchCholeskyCurvature

    g = torch.Generator().manual_seed(0)
    A = torch.randn(7, 7, generator=g, dtype=torch.float64)
    op = TorchCholeskyCurvature(A @ A.T + torch.eye(7, dtype=torch.float64))
    assert op.inverse_.is_contiguous()
    V = torch.randn(7, 2, generator=g, dtype=torch.float64)
    assert op.updated(add=V).inverse_.is_contiguous()
    torch.testing.assert_close(op.inverse_, torch.linalg.inv(op.matrix_))
