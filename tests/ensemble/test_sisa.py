"""SISA: exact unlearning by retraining shards from the slice before the row."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_unlearn.ensemble import SISAClassifier


def _data(n=240, seed=0):
    return make_classification(n, 6, n_informative=4, random_state=seed)


def _sgd():
    return SGDClassifier(loss="log_loss", alpha=1e-3, shuffle=False, random_state=0)


def _rows_of(shard):
    return np.concatenate(shard.X), np.concatenate(shard.y)


def _snapshot(sisa):
    return pickle.dumps(sisa)


def test_refit_mode_shard_models_equal_fresh_fits_on_their_remaining_rows():
    X, y = _data()
    sisa = SISAClassifier(LogisticRegression(), n_shards=4, random_state=0).fit(X, y)
    gone = [3, 50, 51, 200]
    sisa.unlearn(X[gone], y[gone])
    held = np.concatenate([_rows_of(s)[0] for s in sisa.shards_])
    assert len(held) == len(y) - len(gone)
    for i in gone:  # no shard holds a forgotten row
        assert not (held == X[i]).all(axis=1).any()
    for shard in sisa.shards_:
        Xs, ys = _rows_of(shard)
        ref = LogisticRegression().fit(Xs, ys)
        assert_allclose(shard.model.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


def test_incremental_shard_equals_partial_fit_from_scratch_on_remaining_slices():
    X, y = _data()
    sisa = SISAClassifier(
        _sgd(), n_shards=2, n_slices=4, epochs_per_slice=2, random_state=0
    ).fit(X, y)
    before = [list(s.checkpoints) for s in sisa.shards_]
    # a row in slice 2 of shard 0
    row = sisa.shards_[0].X[2][0], sisa.shards_[0].y[2][0]
    sisa.unlearn(row[0][None, :], [row[1]])
    shard = sisa.shards_[0]
    # checkpoints that never saw the row are reused as they were
    assert shard.checkpoints[0] is before[0][0]
    assert shard.checkpoints[1] is before[0][1]
    later = zip(shard.checkpoints[2:], before[0][2:], strict=True)
    assert all(a is not b for a, b in later)
    untouched = zip(sisa.shards_[1].checkpoints, before[1], strict=True)
    assert all(a is b for a, b in untouched)  # the other shard
    # reference: the slice procedure by hand on the remaining slices
    ref = clone(_sgd())
    for r in range(4):
        Xc, yc = np.concatenate(shard.X[: r + 1]), np.concatenate(shard.y[: r + 1])
        for _ in range(2):
            ref.partial_fit(Xc, yc, classes=np.unique(y))
    assert_allclose(shard.model.coef_, ref.coef_, rtol=1e-12)
    assert 0 < sisa.last_retrain_fraction_ < 0.5


def test_warm_start_estimators_are_sliced_too():
    X, y = _data()
    sisa = SISAClassifier(
        LogisticRegression(max_iter=50), n_shards=2, n_slices=3, random_state=0
    ).fit(X, y)
    assert sisa._mode == "warm_start"
    assert sum(c is not None for c in sisa.shards_[0].checkpoints) == 3
    sisa.unlearn(X[:5], y[:5])
    assert sisa.score(X, y) > 0.7


def test_rows_never_trained_on_raise_and_change_nothing():
    X, y = _data()
    sisa = SISAClassifier(_sgd(), n_shards=3, n_slices=2, random_state=0).fit(X, y)
    snap = _snapshot(sisa)
    bad = np.vstack([X[:2], X[:1] + 1.0])
    with pytest.raises(ValueError, match=r"1 of the 3 rows .* \(positions \[2\]\)"):
        sisa.unlearn(bad, y[:3])
    assert _snapshot(sisa) == snap


def test_duplicates_are_removed_one_copy_at_a_time():
    X, y = _data(60)
    X2, y2 = np.vstack([X, X[:1]]), np.r_[y, y[:1]]
    sisa = SISAClassifier(LogisticRegression(), n_shards=2, random_state=0).fit(X2, y2)
    sisa.unlearn(X[:1], y[:1])
    sisa.unlearn(X[:1], y[:1])
    with pytest.raises(ValueError, match="never trained"):
        sisa.unlearn(X[:1], y[:1])
    assert sisa.ledger_[-1].n_remaining == 60 - 1


def test_forgotten_rows_are_not_in_the_pickle():
    X, y = _data()
    sisa = SISAClassifier(_sgd(), n_shards=2, n_slices=2, random_state=0).fit(X, y)
    gone = [7, 8]
    blob = pickle.dumps(sisa)
    assert all(X[i].tobytes() in blob for i in gone)
    sisa.unlearn(X[gone], y[gone])
    blob = pickle.dumps(sisa)
    assert not any(X[i].tobytes() in blob for i in gone)


def test_fit_with_forget_mask_equals_fit_then_unlearn():
    X, y = _data()
    mask = np.zeros(len(y), dtype=bool)
    mask[[1, 2, 90]] = True
    a = SISAClassifier(_sgd(), n_shards=3, n_slices=2, random_state=0)
    a.fit(X, y, forget=mask)
    b = SISAClassifier(_sgd(), n_shards=3, n_slices=2, random_state=0).fit(X, y)
    b.unlearn(X[mask], y[mask])
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_vote_and_parallel_shards():
    X, y = _data()
    one = SISAClassifier(_sgd(), n_shards=3, aggregation="vote", random_state=0)
    two = clone(one).set_params(n_jobs=2)
    assert_array_equal(one.fit(X, y).predict(X), two.fit(X, y).predict(X))
    P = one.predict_proba(X)
    assert_allclose(P.sum(axis=1), 1.0)
    assert set(np.unique(P * 3).round(6)) <= {0.0, 1.0, 2.0, 3.0}


def test_mean_proba_needs_predict_proba():
    from sklearn.svm import LinearSVC

    X, y = _data()
    with pytest.raises(ValueError, match="use aggregation='vote'"):
        SISAClassifier(LinearSVC()).fit(X, y)


@parametrize_with_checks([SISAClassifier(LogisticRegression(), n_shards=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
