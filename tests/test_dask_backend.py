"""Everything parallel goes through joblib: the dask backend gives the same result."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier

from sklearn_unlearn.ensemble import SISAClassifier
from sklearn_unlearn.metrics import ShadowModelAttack, fit_oracles

joblib = pytest.importorskip("joblib")
distributed = pytest.importorskip("distributed")


def _run(X, y, forget):
    oracles = fit_oracles(
        LogisticRegression(), X, y, forget, n_models=3, random_state=0, progress=False
    )
    attack = ShadowModelAttack(
        n_shadow=2,
        attack_estimator=LogisticRegression(),
        random_state=0,
        progress=False,
    ).fit(LogisticRegression(), X[forget.size // 2 :], y[forget.size // 2 :])
    sisa = SISAClassifier(
        SGDClassifier(loss="log_loss", random_state=0),
        n_shards=3,
        n_slices=2,
        random_state=0,
    ).fit(X, y)
    sisa.unlearn(X[:3], y[:3])
    return (
        np.stack([m.coef_.ravel() for m in oracles]),
        attack.score_samples(oracles[0], X, y),
        sisa.predict_proba(X),
    )


def test_dask_backend_gives_the_default_result():
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    forget = np.arange(120) < 6
    expected = _run(X, y, forget)
    # one worker with two threads: with a single thread joblib sees one core
    # and runs every loop in the caller, never reaching the cluster
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream:
            with joblib.parallel_backend("dask"):
                got = _run(X, y, forget)
    # the work ran on the cluster: 3 oracles, 2 shadows, 3 + 1 shard fits
    assert len(stream.data) >= 9
    assert_allclose(got[0], expected[0])
    assert_allclose(got[1], expected[1])
    assert_array_equal(got[2], expected[2])
