"""PUMA data debugging (Algorithms 2 and 3) on a skorch net, against dense math."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.inspection import (  # noqa: E402
    calibration_triage,
    find_mislabeled,
    influence_scores,
    self_influence,
)
from sklearn_unlearn.methods import PUMA, FirstOrder  # noqa: E402

N, D = 80, 4


def _fitted(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = (X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=N) > 0).astype(int)
    y[:8] = 1 - y[:8]
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, 2)).double(),
        criterion=nn.CrossEntropyLoss,
        max_epochs=10,
        lr=0.2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-2,
    )
    return UnlearningClassifier(net, method=method).fit(X, y), X, y


def _dense(model, X, y):
    """Per-row gradients, ``grad`` of the mean log loss and the damped matrix."""
    a, theta = model.adapter_, model.state_.theta
    G = a.per_sample_gradients_dense(theta, X, y)
    t = theta.clone().requires_grad_(True)
    params = a._params(t)
    logits = torch.func.functional_call(
        model.estimator_.module_, params, (torch.as_tensor(X),)
    )
    (gC,) = torch.autograd.grad(
        nn.functional.cross_entropy(logits, torch.as_tensor(y)), t
    )
    H = a.gauss_newton(theta, X, y) + (1e-2 * N + 0.5) * torch.eye(a.n_params)
    return G, gC, H


def test_influence_and_self_influence_match_dense_references():
    model, X, y = _fitted(PUMA(damping=0.5))
    G, gC, H = _dense(model, X, y)
    psi = G @ torch.linalg.solve(H, gC)  # eq. (9)
    np.testing.assert_allclose(
        influence_scores(model, X, y), psi.numpy(), rtol=1e-6, atol=1e-10
    )
    self_ = (G * torch.linalg.solve(H, G.T).T).sum(dim=1)
    np.testing.assert_allclose(
        self_influence(model, X, y), self_.numpy(), rtol=1e-6, atol=1e-10
    )


def test_a_method_without_dense_curvature_is_solved_by_cg():
    """FirstOrder keeps no curvature: CG over the rows, with no damping."""
    model, X, y = _fitted(FirstOrder())
    G, gC, H = _dense(model, X, y)
    H -= 0.5 * torch.eye(H.shape[0])
    psi = G @ torch.linalg.solve(H, gC)
    np.testing.assert_allclose(
        influence_scores(model, X, y), psi.numpy(), rtol=1e-4, atol=1e-8
    )


def test_debugging_on_a_net_leaves_the_model_unchanged():
    model, X, y = _fitted(PUMA(damping=0.5))
    theta = model.state_.theta.clone()
    found = find_mislabeled(model, X, y, 20, validation=(X[8:], y[8:]))
    assert set(found) <= set(range(N))
    triage = calibration_triage(model, X, y, 20, eta=0.5)
    assert torch.is_tensor(triage.coef)
    patched = triage.estimator.predict_proba(X.astype(np.float64))
    assert not np.allclose(patched, model.predict_proba(X))
    torch.testing.assert_close(model.state_.theta, theta, rtol=0, atol=0)
