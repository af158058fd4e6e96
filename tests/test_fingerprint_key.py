"""Keyed fingerprints: nobody without the key can test or rebuild a row."""

import os
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn import (
    FingerprintKey,
    KeyUnavailableError,
    UnlearningClassifier,
    audit_rows,
)
from sklearn_unlearn._fingerprint import fingerprint_rows

SECRET = b"a user's secret, 32 bytes long!!"


def _attacker_dictionary(X, y, forget):
    """Every row the attacker might try: the forgotten rows among others."""
    return fingerprint_rows(X, y), np.flatnonzero(forget)


def test_the_key_is_checked():
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        FingerprintKey(b"short")
    with pytest.raises(TypeError, match="bytes or str"):
        FingerprintKey(12345678901234567)
    with pytest.raises(ValueError, match="either a secret or env"):
        FingerprintKey()
    key = FingerprintKey(SECRET)
    assert SECRET.hex() not in repr(key) and key.key_id in repr(key)
    assert FingerprintKey(SECRET) == key and FingerprintKey.generate() != key


def test_dictionary_search_on_a_mixed_table_recovers_no_row(credit_frame_pipeline):
    """The attacker enumerates a domain that holds every forgotten row; the
    ledger export and a pickle without the key match none of them. With the
    key the same search finds all: the test can fail."""
    X, y, make = credit_frame_pipeline
    forget = np.arange(len(y)) < 25
    for store in (True, False):
        key = FingerprintKey(SECRET, store=store)
        pipe = make(UnlearningClassifier(LogisticRegression())).set_params(
            fingerprint_key=key
        )
        pipe.fit(X, y, forget=forget)
        export = pipe[-1].ledger_.to_json()
        blob = pickle.dumps(pipe)
        guesses = fingerprint_rows(X, y)  # what anyone can compute
        assert not any(g in export for g in guesses)
        assert not any(bytes.fromhex(g) in blob for g in guesses)
        assert (SECRET in blob) is store  # the user's key stays out by default
        keyed = fingerprint_rows(X[forget], y[forget], SECRET)
        assert all(k in export for k in keyed)  # positive control


def test_a_pickle_without_the_key_refuses_requests_until_it_is_given():
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3), np.arange(60) % 2
    clf = UnlearningClassifier(
        LogisticRegression(), fingerprint_key=FingerprintKey(SECRET)
    ).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    theta = loaded.state_.theta.copy()
    with pytest.raises(KeyUnavailableError, match="held outside the model"):
        loaded.unlearn(X[:2], y[:2])
    assert np.array_equal(loaded.state_.theta, theta)
    with pytest.raises(ValueError, match="not the key this model was fitted with"):
        loaded.set_params(fingerprint_key=FingerprintKey(b"x" * 32)).unlearn(
            X[:2], y[:2]
        )
    loaded.set_params(fingerprint_key=FingerprintKey(SECRET)).unlearn(X[:2], y[:2])
    assert len(loaded.fingerprints_) == 58
    # clone keeps the parameter; a refit with it gives the same fingerprints
    twin = clone(clf).fit(X, y)
    assert twin.fingerprints_.counter() == clf.fingerprints_.counter()


def test_a_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("UNLEARN_TEST_KEY", SECRET.decode())
    key = FingerprintKey(env="UNLEARN_TEST_KEY")
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), np.arange(40) % 2
    clf = UnlearningClassifier(LogisticRegression(), fingerprint_key=key).fit(X, y)
    blob = pickle.dumps(clf)
    assert SECRET not in blob
    loaded = pickle.loads(blob)
    loaded.unlearn(X[:1], y[:1])  # the environment still holds the key
    monkeypatch.setenv("UNLEARN_TEST_KEY", "another key of 32 bytes........")
    with pytest.raises(KeyUnavailableError, match="another key"):
        loaded.unlearn(X[1:2], y[1:2])
    monkeypatch.delenv("UNLEARN_TEST_KEY")
    with pytest.raises(KeyUnavailableError, match="not set"):
        loaded.unlearn(X[1:2], y[1:2])
    assert os.environ.get("UNLEARN_TEST_KEY") is None


def test_audit_rows_on_the_pipeline(credit_frame_pipeline):
    X, y, make = credit_frame_pipeline
    pipe = make(UnlearningClassifier(LogisticRegression())).fit(X, y)
    gone = X.index[:5]
    pipe.unlearn(X.loc[gone], y[:5])
    report = audit_rows(pipe, X.iloc[:8], y[:8])
    assert list(report.index) == list(X.index[:8])
    assert report["forgotten"].tolist() == [True] * 5 + [False] * 3
    assert report["held"].tolist() == [0] * 5 + [1] * 3
    assert report["times_removed"].tolist() == [1] * 5 + [0] * 3
    with pytest.raises(ValueError, match="not the key"):
        audit_rows(pipe, X.iloc[:8], y[:8], fingerprint_key=FingerprintKey(SECRET))
