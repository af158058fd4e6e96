import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.metrics import (
    ensemble_plan,
    fit_oracles,
    fit_unlearned,
    klom,
    klom_from_margins,
    klom_summary,
    margins,
)
from sklearn_unlearn.metrics._klom import auto_n_bins


def direct_klom(u, o, n_bins):
    """One row: np.histogram over the pooled range (last bin closed), floor, KL."""
    lo, hi = min(u.min(), o.min()), max(u.max(), o.max())
    if hi == lo:
        return 0.0
    cu = np.histogram(u, bins=n_bins, range=(lo, hi))[0]
    co = np.histogram(o, bins=n_bins, range=(lo, hi))[0]
    assert cu.sum() == len(u) and co.sum() == len(o)  # nothing lost at the edges
    p, q = cu / len(u), co / len(o)
    p, q = np.where(p == 0, 1e-5, p), np.where(q == 0, 1e-5, q)
    return float(np.sum(p * np.log(p / q)))


@pytest.mark.parametrize("n_bins", [1, 5, 20])
def test_klom_matches_direct_numpy(n_bins):
    rng = np.random.RandomState(0)
    U = rng.normal(size=(12, 30))
    O = rng.normal(loc=np.linspace(-2, 2, 30), size=(9, 30))
    O[:, 3] = U[:, 3].max()  # ties with the pooled maximum
    U[:, 4] = np.linspace(0, 1, 12)  # values exactly on the inner edges
    O[:, 4] = np.linspace(0, 1, 9)
    expected = [direct_klom(U[:, j], O[:, j], n_bins) for j in range(30)]
    assert_allclose(klom_from_margins(U, O, n_bins), expected, rtol=1e-12)


def test_identical_disjoint_and_maximum_kept():
    u = np.array([[0.0, 1.0, 3.0], [0.5, 1.0, 3.0], [2.0, 1.0, 3.0]])
    assert_allclose(klom_from_margins(u, u.copy()), 0.0)
    disjoint = klom_from_margins(np.zeros((4, 1)), np.ones((6, 1)))
    assert_allclose(disjoint, (1 - 1e-5) * np.log(1e5))
    # the sample's maximum stays: with it dropped the two samples would differ
    a = np.array([[0.0], [1.0]])
    b = np.array([[0.0], [0.1]])
    assert_allclose(klom_from_margins(a, b, n_bins=2), direct_klom(a[:, 0], b[:, 0], 2))
    assert klom_from_margins(a, b, n_bins=2)[0] > 5


def test_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        klom_from_margins(np.zeros((3, 2)), np.zeros((3, 3)))
    for bad in (0, 2.5, "sqrt", True, np.inf):
        with pytest.raises(ValueError, match="n_bins must be 'auto' or an integer"):
            klom_from_margins(np.zeros((3, 2)), np.zeros((3, 2)), n_bins=bad)
    with pytest.raises(ValueError, match="finite"):
        klom_from_margins(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X and y are needed"):
        klom([LogisticRegression()], [LogisticRegression()])


def test_auto_bins_is_the_one_rule():
    """``"auto"`` (the default everywhere) is ``auto_n_bins`` of the smaller
    ensemble; the scorer uses the same function."""
    from sklearn_unlearn.metrics import _scorers

    assert [auto_n_bins(n) for n in (1, 8, 12, 13, 16, 100, 400, 10_000)] == [
        3,
        3,
        3,
        4,
        4,
        10,
        20,
        20,
    ]
    imported = {getattr(_scorers, n, None) for n in ("auto_n_bins", "_auto_n_bins")}
    assert imported - {None} == {auto_n_bins}  # not a copy of the rule
    rng = np.random.default_rng(0)
    U, O = rng.normal(size=(100, 7)), rng.normal(0.5, size=(30, 7))
    assert_allclose(klom_from_margins(U, O), klom_from_margins(U, O, n_bins=5))
    assert_allclose(klom(U, O), klom_from_margins(U, O, n_bins=auto_n_bins(30)))
    assert_allclose(klom_from_margins(U, O, n_bins=5.0), klom(U, O, n_bins=5))


def test_summary():
    v = np.arange(20.0)
    s = klom_summary(v, {"forget": v < 10, "held_out": v >= 10, "retain": v < 0})
    assert s["forget_median"] == 4.5
    assert s["held_out_p95"] == pytest.approx(np.percentile(v[10:], 95))
    assert np.isnan(s["retain_median"])
    with pytest.raises(ValueError, match="shape"):
        klom_summary(v, {"forget": v[:3] < 1})


def test_plan_pairs_oracles_and_members(small_data):
    X, y, forget = small_data
    plan = ensemble_plan(LogisticRegression(), forget, n_models=3, random_state=0)
    assert plan.spread == "subsample"
    for r in plan.retained:
        assert not (r & forget).any() and r.sum() == (~forget).sum() // 2
    oracles = fit_oracles(LogisticRegression(), X, y, forget, 3, 0, progress=False)
    for o, r in zip(oracles, plan.retained, strict=True):
        ref = LogisticRegression().fit(X[r], y[r])
        assert_allclose(o.coef_, ref.coef_)


def test_retrain_is_at_zero_and_doing_nothing_is_not(small_data):
    X, y, forget = small_data
    est = LogisticRegression(C=100.0)
    kw = dict(n_models=4, random_state=0, progress=False)
    oracles = fit_oracles(est, X, y, forget, **kw)
    retrained = fit_unlearned(
        UnlearningClassifier(est, method="retrain"), X, y, forget, **kw
    )
    nothing = fit_unlearned(est, X, y, forget, **kw)
    k_retrain = klom(retrained, oracles, X[forget], y[forget])
    k_nothing = klom(nothing, oracles, X[forget], y[forget])
    assert_allclose(k_retrain, 0.0, atol=1e-9)
    assert np.median(k_nothing) > 0.25  # 4 models: 3 bins
    assert_allclose(k_nothing, klom(nothing, oracles, X[forget], y[forget], 3))
    k20 = klom(nothing, oracles, X[forget], y[forget], n_bins=20)
    assert np.median(k20) > 1.0
    # models or their margins give the same values
    U = np.stack([margins(m, X[forget], y[forget]) for m in nothing])
    assert_allclose(klom(U, oracles, X[forget], y[forget]), k_nothing)


def test_ensemble_bad_input(small_data):
    X, y, forget = small_data
    with pytest.raises(ValueError, match="length n_samples"):
        fit_oracles(LogisticRegression(), X, y, forget[:-1], 2, progress=False)
    with pytest.raises(ValueError, match="no rows"):
        fit_oracles(LogisticRegression(), X, y, forget & False, 2, progress=False)
    with pytest.raises(TypeError, match="boolean"):
        fit_oracles(LogisticRegression(), X, y, np.flatnonzero(forget), 2)
    with pytest.raises(ValueError, match="n_models"):
        fit_oracles(LogisticRegression(), X, y, forget, 1, progress=False)
