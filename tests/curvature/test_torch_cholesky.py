"""TorchCholeskyCurvature: solves vs explicit inverses, downdates vs rebuilds."""

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
    assert V.shape == (adapter.n_params, 3 * X.shape[0])
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
    before = op.factor_.clone()
    with pytest.raises(NotPositiveDefiniteError):
        op.updated(shift=-10.0 * torch.ones(adapter.n_params))
    assert torch.equal(op.factor_, before)
    with pytest.raises(NotPositiveDefiniteError):
        TorchCholeskyCurvature(-M)
