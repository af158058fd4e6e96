"""K-FAC: the operator against an explicit block-Kronecker inverse, the factors
against the net's exact Gauss-Newton matrix where K-FAC is exact (one row)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.adapters._torch import SkorchAdapter  # noqa: E402
from sklearn_unlearn.curvature import (  # noqa: E402
    KroneckerFactoredCurvature,
    NotPositiveDefiniteError,
)
from sklearn_unlearn.curvature._kfac import KroneckerLayer  # noqa: E402
from sklearn_unlearn.methods import Newton  # noqa: E402

D, H, K, WD = 3, 4, 3, 0.05


def _spd(n, seed):
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, n, generator=g, dtype=torch.float64)
    return B @ B.T + 0.1 * torch.eye(n, dtype=torch.float64)


def _dense(layers, p, d):
    """The operator's matrix in theta's coordinates, built explicitly."""
    M = torch.zeros(p, p, dtype=torch.float64)
    for layer in layers:
        pos = KroneckerFactoredCurvature._positions(layer)
        M[pos[:, None], pos[None, :]] = torch.kron(layer.G, layer.A)
    return M + torch.diag(d)


def test_solve_is_the_inverse_of_the_block_kronecker_matrix():
    # layer 1: W (2 x 3) at 0..5, bias at 6..7; layer 2: W (1 x 2) at 8..9, no bias
    l1 = KroneckerLayer(torch.arange(6), torch.arange(6, 8), _spd(2, 0), _spd(4, 1))
    l2 = KroneckerLayer(torch.arange(8, 10), None, _spd(1, 2), _spd(2, 3))
    floor = torch.tensor([0.5] * 8 + [0.2] * 2, dtype=torch.float64)
    op = KroneckerFactoredCurvature(
        [l1, l2], 10, floor, damping=0.1, factored_damping=False
    )
    M = _dense([l1, l2], 10, floor + 0.1)
    B = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(op.solve(B), torch.linalg.solve(M, B))
    assert op.memory_bytes < 10 * 10 * 8


def test_layers_must_cover_every_parameter_once_and_be_damped():
    layer = KroneckerLayer(torch.arange(2), None, _spd(1, 0), _spd(2, 1))
    with pytest.raises(ValueError, match="every parameter"):
        KroneckerFactoredCurvature([layer], 3, torch.ones(3))
    with pytest.raises(ValueError, match="two layers"):
        KroneckerFactoredCurvature([layer, layer], 2, torch.ones(2))
    with pytest.raises(NotPositiveDefiniteError, match="damping"):
        KroneckerFactoredCurvature([layer], 2, torch.zeros(2))


def _net(max_epochs=0):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, H), nn.Tanh(), nn.Linear(H, K)).double()
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=max_epochs,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    return X, rng.integers(0, K, size=n)


def test_one_row_factors_give_the_exact_gauss_newton_blocks():
    """With one row the sum of Kronecker products is one product: K-FAC is exact."""
    X, y = _data(1)
    net = _net().initialize()
    a = SkorchAdapter(net)
    theta = a.get_theta(net)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    exact = a.gauss_newton(theta, Xt, yt)
    for f in a.kfac_factors(theta, Xt, yt):
        layer = KroneckerLayer(f["weight"], f["bias"], f["GG"], f["AA"])
        pos = KroneckerFactoredCurvature._positions(layer)
        torch.testing.assert_close(
            torch.kron(f["GG"], f["AA"]), exact[pos[:, None], pos[None, :]]
        )
    first = a.kfac_factors(theta, *map(torch.as_tensor, _data(5)))[0]
    X5 = torch.as_tensor(_data(5)[0])
    Xb = torch.cat([X5, torch.ones(5, 1, dtype=torch.float64)], dim=1)
    torch.testing.assert_close(first["AA"], Xb.T @ Xb)  # the first layer sees X


def test_newton_kfac_step_uses_the_sampled_and_scaled_factors():
    X, y = _data(40)
    method = Newton(damping=0.2, curvature="kfac", curvature_rows=25)
    model = UnlearningClassifier(_net(max_epochs=3), method=method).fit(X, y)
    a, theta, op = model.adapter_, model.state_.theta.clone(), model.state_.curvature
    assert op.kind == "kfac" and "K-FAC" in model.ledger_[0].notes[0]
    g = -a.gradient(theta, torch.as_tensor(X[:4]), torch.as_tensor(y[:4]))
    g += -WD * 4 * a.penalty_mask * theta
    model.unlearn(X[:4], y[:4])
    expected = theta - op.solve(g)
    torch.testing.assert_close(model.state_.theta, expected)
    assert model.state_.curvature is op
    with pytest.raises(ValueError, match="kfac"):
        kfac = Newton(damping=0.2, curvature="kfac", downdate=True)
        UnlearningClassifier(_net(3), method=kfac).fit(X, y).unlearn(X[:2], y[:2])


def test_factored_damping_damps_each_factor():
    G, A = _spd(2, 4), _spd(3, 5)
    layer = KroneckerLayer(torch.arange(6), None, G, A)
    op = KroneckerFactoredCurvature([layer], 6, torch.full((6,), 0.3), damping=0.2)
    d = 0.5
    pi = float(
        (torch.linalg.eigvalsh(G).mean() / torch.linalg.eigvalsh(A).mean()).sqrt()
    )
    eye = torch.eye
    M = torch.kron(
        G + d**0.5 * pi * eye(2, dtype=torch.float64),
        A + d**0.5 / pi * eye(3, dtype=torch.float64),
    )
    b = torch.randn(6, dtype=torch.float64)
    torch.testing.assert_close(op.solve(b), torch.linalg.solve(M, b))
