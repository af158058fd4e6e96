"""Two threads, one estimator: requests are applied one at a time."""

import threading

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn._fingerprint import fingerprint_rows
from sklearn_unlearn.ensemble import SISAClassifier


def _two_threads(model, X, y, halves):
    barrier = threading.Barrier(2)
    errors = []

    def run(rows):
        try:
            barrier.wait()
            model.unlearn(X[rows], y[rows])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.parametrize("trial", range(50))
def test_concurrent_unlearn_requests_do_not_corrupt(trial):
    rng = np.random.RandomState(trial)
    X = rng.randn(400, 5)
    y = (X[:, 0] + 0.3 * rng.randn(400) > 0).astype(int)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    halves = np.array_split(rng.permutation(400)[:200], 2)
    assert _two_threads(clf, X, y, halves) == []
    assert len(clf.fingerprints_) == 200
    assert [e.n_remaining for e in clf.ledger_][1:] in ([300, 200],)
    # sequentially, in the order the ledger shows, gives the same model
    secret = clf.fingerprint_key_.secret()
    first = set(clf.ledger_[1].removed)
    order = [h for h in halves if set(fingerprint_rows(X[h], y[h], secret)) == first]
    order += [h for h in halves if h is not order[0]]
    seq = UnlearningClassifier(LogisticRegression()).fit(X, y)
    for h in order:
        seq.unlearn(X[h], y[h])
    np.testing.assert_allclose(clf.state_.theta, seq.state_.theta, atol=1e-10)


def test_concurrent_sisa_requests():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 4)
    y = (X[:, 0] > 0).astype(int)
    from sklearn.linear_model import SGDClassifier

    sisa = SISAClassifier(
        SGDClassifier(loss="log_loss", random_state=0), n_shards=3
    ).fit(X, y)
    halves = np.array_split(np.arange(60), 2)
    assert _two_threads(sisa, X, y, halves) == []
    assert sum(s.n_rows for s in sisa.shards_) == 240
    assert sisa.ledger_[-1].n_remaining == 240
