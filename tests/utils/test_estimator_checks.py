"""The unlearning checks catch estimators that break their contract."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_unlearn import UnlearningRegressor
from sklearn_unlearn.utils.estimator_checks import (
    check_unlearn_forgets_rows,
    check_unlearn_is_atomic,
    check_unlearn_matches_refit,
)


class _IgnoresRequests(UnlearningRegressor):
    """Accepts every request and changes nothing."""

    def unlearn(self, X, y, *args, **kwargs):
        return self


class _MutatesThenFails(UnlearningRegressor):
    def unlearn(self, X, y, *args, **kwargs):
        self.estimator_.coef_ = self.estimator_.coef_ + 1.0
        raise ValueError("bad request")


class _KeepsRows(UnlearningRegressor):
    def unlearn(self, X, y, *args, **kwargs):
        super().unlearn(X, y, *args, **kwargs)
        self.kept_ = np.asarray(X, dtype=np.float64).copy()
        return self


def test_checks_pass_on_a_correct_estimator():
    est = UnlearningRegressor(Ridge())
    for check in (
        check_unlearn_matches_refit,
        check_unlearn_is_atomic,
        check_unlearn_forgets_rows,
    ):
        check("ridge", est)


@pytest.mark.parametrize(
    "broken, check, match",
    [
        (_IgnoresRequests, check_unlearn_matches_refit, "not closer"),
        (_IgnoresRequests, check_unlearn_is_atomic, "was accepted"),
        (_MutatesThenFails, check_unlearn_is_atomic, "changed it"),
        (_KeepsRows, check_unlearn_forgets_rows, "survives"),
    ],
)
def test_checks_catch_broken_estimators(broken, check, match):
    with pytest.raises(AssertionError, match=match):
        check("broken", broken(Ridge()))
