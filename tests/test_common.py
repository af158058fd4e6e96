"""scikit-learn's estimator checks and our unlearning checks, on our estimators."""

from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.methods import SSSE
from sklearn_unlearn.utils.estimator_checks import parametrize_with_unlearn_checks


@parametrize_with_unlearn_checks(
    [
        UnlearningClassifier(LogisticRegression()),
        UnlearningClassifier(LogisticRegression(C=10.0), method=SSSE(damping=1e-3)),
        UnlearningRegressor(Ridge()),
        UnlearningRegressor(PoissonRegressor(), method="first_order"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
