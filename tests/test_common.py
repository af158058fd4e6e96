"""scikit-learn's own estimator checks, run on our meta-estimators."""

from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import SSSE


@parametrize_with_checks(
    [
        UnlearningClassifier(LogisticRegression()),
        UnlearningClassifier(LogisticRegression(C=10.0), method=SSSE(damping=1e-3)),
        UnlearningRegressor(Ridge()),
        UnlearningRegressor(PoissonRegressor(), method="first_order"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
