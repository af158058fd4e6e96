"""Fixtures shared across test folders."""

import pytest


@pytest.fixture
def batch_replay():
    """A skorch callback class recording every training batch.

    Each entry of ``batches_`` is ``(X_batch, y_batch, delta)`` with ``delta``
    the flat parameter change of that batch's step: an independent record
    of training to check what the Amnesiac recorder and method keep.
    """
    torch = pytest.importorskip("torch")
    callbacks = pytest.importorskip("skorch.callbacks")

    class BatchReplay(callbacks.Callback):
        def initialize(self):
            self.batches_ = []
            return self

        @staticmethod
        def _theta(net):
            params = net.module_.parameters()
            return torch.cat([p.detach().reshape(-1) for p in params])

        def on_batch_begin(self, net, batch=None, training=None, **kw):
            self.before_ = self._theta(net).clone()

        def on_batch_end(self, net, batch=None, training=None, **kw):
            delta = self._theta(net) - self.before_
            X, y = (b.numpy().copy() for b in batch[:2])
            self.batches_.append((X, y, delta))

    return BatchReplay
