import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression


@pytest.fixture
def overfit_data():
    """Few rows, many features: a weakly regularised model memorises its rows."""
    X, y = make_classification(
        n_samples=160, n_features=100, n_informative=3, flip_y=0.3, random_state=0
    )
    return X, y


@pytest.fixture
def overfit_lr():
    return LogisticRegression(C=1.0, solver="newton-cholesky")


@pytest.fixture
def small_data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, random_state=1
    )
    return X, y, np.arange(120) < 8
