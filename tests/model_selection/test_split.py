import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from sklearn_unlearn.model_selection import ForgetSplit


@pytest.fixture
def data():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    forget = np.zeros(60, dtype=bool)
    forget[[1, 5, 9]] = True
    return X, y, forget


def test_folds_hold_forgotten_rows_beside_held_out(data):
    X, y, forget = data
    held_all = []
    for train, test in ForgetSplit(3, random_state=0).split(X, y, forget=forget):
        f_idx = np.flatnonzero(forget)
        assert set(f_idx) <= set(train) and set(f_idx) <= set(test)
        held = np.setdiff1d(test, f_idx)
        assert not set(held) & set(train)
        assert len(train) + len(held) == 60
        held_all.append(held)
    assert np.array_equal(np.sort(np.concatenate(held_all)), np.flatnonzero(~forget))
    assert ForgetSplit(4).get_n_splits() == 4


def test_bad_masks(data):
    X, y, forget = data
    cv = ForgetSplit(2)
    with pytest.raises(ValueError, match="needs the forget mask"):
        next(cv.split(X, y))
    with pytest.raises(ValueError, match="length n_samples=60"):
        next(cv.split(X, y, forget=forget[:-1]))
    with pytest.raises(ValueError, match="no rows"):
        next(cv.split(X, y, forget=np.zeros(60, dtype=bool)))
    with pytest.raises(TypeError, match="boolean"):
        next(cv.split(X, y, forget=np.flatnonzero(forget)))
    with pytest.raises(ValueError, match="asks for about 30"):
        next(ForgetSplit(2, forget_size=0.5).split(X, y, forget=forget))
    one_class = forget | (y == 1)
    with pytest.raises(ValueError, match="single class"):
        next(cv.split(X, y, forget=one_class))
    with pytest.raises(ValueError, match="n_splits"):
        next(ForgetSplit(1).split(X, y, forget=forget))


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records the forget mask its fit received."""

    __metadata_request__fit = {"forget": True}
    seen = []

    def fit(self, X, y, forget=None):
        _Recorder.seen.append((len(X), None if forget is None else forget.sum()))
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_mask_is_routed_to_split_and_fit(data):
    X, y, forget = data
    _Recorder.seen = []
    with config_context(enable_metadata_routing=True):
        GridSearchCV(
            _Recorder(), {}, cv=ForgetSplit(3, random_state=0), refit=False
        ).fit(X, y, forget=forget)
    assert [s[1] for s in _Recorder.seen] == [3, 3, 3]
    assert all(n == 3 + 57 * 2 // 3 for n, _ in _Recorder.seen)
