"""A tiny skorch net and weighted rows, shared by the curvature tests on nets."""

import pytest


@pytest.fixture
def tiny_net():
    """Factory: ``(net, adapter, X, y, c, generator)`` for a 3-h-3 tanh classifier.

    float64, cross-entropy, weight decay 0.05, 23 weighted rows; the torch
    generator is returned so that a test can keep drawing from it.
    """
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    from skorch import NeuralNetClassifier
    from torch import nn

    from sklearn_unlearn.adapters._torch import SkorchAdapter

    def make(hidden, **adapter_kwargs):
        torch.manual_seed(0)
        module = nn.Sequential(
            nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 3)
        ).double()
        net = NeuralNetClassifier(
            module,
            criterion=nn.CrossEntropyLoss,
            max_epochs=0,
            train_split=None,
            optimizer__weight_decay=0.05,
        ).initialize()
        adapter = SkorchAdapter(net, **adapter_kwargs)
        gen = torch.Generator().manual_seed(1)
        n = 23
        X = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 3, (n,), generator=gen)
        c = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
        return net, adapter, X, y, c, gen

    return make
