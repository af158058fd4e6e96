"""AmnesiacRecorder: exactly the sensitive batches, fingerprints only, hand-over."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn._fingerprint import fingerprint_array  # noqa: E402
from sklearn_unlearn.callbacks import AmnesiacRecorder  # noqa: E402
from sklearn_unlearn.callbacks._amnesiac import training_keys  # noqa: E402

N, D = 80, 3


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _fit(*callbacks, seed=3):
    X, y = _data()
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        nn.Linear(D, 2),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        batch_size=8,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        callbacks=list(callbacks),
    )
    return net.fit(X, y), X, y


def test_records_exactly_the_batches_with_sensitive_rows(batch_replay):
    X, y = _data()
    flagged = np.zeros(N, dtype=bool)
    flagged[[2, 30, 31, 77]] = True
    net, _, _ = _fit(AmnesiacRecorder(flagged), batch_replay())
    cbs = dict(net.callbacks_)
    everything = cbs["BatchReplay"].batches_
    log = cbs["AmnesiacRecorder"].take_log()
    secret = log.key.secret()
    sensitive = {k.tobytes() for k in training_keys(X[flagged], y[flagged], secret)}
    # keyed: the unkeyed fingerprints of the sensitive rows are not in the log
    plain = {k.tobytes() for k in fingerprint_array(X[flagged], y[flagged])}
    assert not plain & log.sensitive
    assert log.sensitive == sensitive
    expected = []
    for Xb, yb, delta in everything:
        keys = {k.tobytes() for k in training_keys(Xb, yb, secret)} & sensitive
        if keys:
            expected.append((keys, delta))
    assert len(log.batches) == len(expected) < len(everything)
    for (keys, delta), (want_keys, want) in zip(log.batches, expected, strict=True):
        assert keys == want_keys
        assert torch.equal(delta, want)


def test_callable_sensitive_and_hand_over():
    X, y = _data()
    recorder = AmnesiacRecorder(sensitive=lambda X, y: X[:, 1] > 1.0)
    net, _, _ = _fit(recorder)
    fitted = dict(net.callbacks_)["AmnesiacRecorder"]
    assert fitted is recorder  # skorch uses the instance it was given
    log = fitted.take_log()
    assert len(log) == int((X[:, 1] > 1.0).sum()) > 0
    assert fitted.records_ is None and not fitted.sensitive_keys_
    with pytest.raises(RuntimeError, match="handed over"):
        fitted.take_log()
    net.fit(X, y)  # a fresh fit re-initialises the callback and records again
    assert fitted.records_


@pytest.mark.parametrize(
    "sensitive", [np.zeros(N - 1, dtype=bool), np.zeros(N), lambda X, y: [0] * len(X)]
)
def test_a_bad_mask_is_refused(sensitive):
    with pytest.raises(ValueError, match="boolean mask over the 80 training rows"):
        _fit(AmnesiacRecorder(sensitive))


def test_evaluation_batches_are_not_recorded():
    net, X, y = _fit(AmnesiacRecorder(np.ones(N, dtype=bool)))
    recorder = dict(net.callbacks_)["AmnesiacRecorder"]
    n = len(recorder.records_)
    batch = (torch.as_tensor(X[:4]), torch.as_tensor(y[:4]))
    recorder.on_batch_begin(net, batch=batch, training=False)
    recorder.on_batch_end(net, batch=batch, training=False)
    assert len(recorder.records_) == n and recorder.before_ is None
