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


@pytest.fixture(scope="module")
def credit_frame_pipeline():
    """German credit as a DataFrame and a factory of the README's pipeline.

    Returns ``(X, y, make)``: ``make(model)`` is
    ``sklearn_unlearn.pipeline.make_pipeline(scaler + one-hot, model)``, the
    path a DataFrame user takes; ``y`` is a NumPy array.
    """
    import numpy as np
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklearn_unlearn.datasets import load_german_credit
    from sklearn_unlearn.pipeline import make_pipeline

    X, y = load_german_credit(return_X_y=True, as_frame=True)
    num = X.select_dtypes("number").columns.tolist()
    cat = X.select_dtypes("category").columns.tolist()

    def make(model):
        columns = make_column_transformer(
            (StandardScaler(), num), (OneHotEncoder(handle_unknown="ignore"), cat)
        )
        return make_pipeline(columns, model)

    return X, np.asarray(y).copy(), make
