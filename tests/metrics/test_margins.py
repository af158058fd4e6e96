import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.metrics import margins


def _direct(P, idx):
    """log p_y - log(1 - p_y), computed row by row."""
    return np.array(
        [np.log(p[k]) - np.log(1 - p[k]) for p, k in zip(P, idx, strict=True)]
    )


def test_binary_margin_is_signed_decision():
    X, y = make_classification(n_samples=80, random_state=0)
    clf = LogisticRegression().fit(X, y)
    d = clf.decision_function(X)
    assert_allclose(margins(clf, X, y), np.where(y == 1, d, -d))
    assert_allclose(margins(clf, X, y), _direct(clf.predict_proba(X), y), atol=1e-9)


def test_multiclass_margin_matches_probabilities():
    X, y = make_classification(
        n_samples=90, n_classes=3, n_informative=4, random_state=0
    )
    labels = np.array(["a", "b", "c"])[y]
    clf = LogisticRegression().fit(X, labels)
    assert_allclose(margins(clf, X, labels), _direct(clf.predict_proba(X), y))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_probability_only_model_and_wrapper():
    X, y = make_classification(n_samples=80, random_state=0)
    mlp = MLPClassifier((8,), max_iter=300, random_state=0).fit(X, y)
    assert_allclose(margins(mlp, X, y), _direct(mlp.predict_proba(X), y), atol=1e-8)
    wrapped = UnlearningClassifier(LogisticRegression()).fit(X, y)
    assert_allclose(margins(wrapped, X, y), margins(wrapped.estimator_, X, y))


def test_clipped_and_unknown_labels():
    X, y = make_classification(n_samples=60, random_state=0)
    clf = LogisticRegression(C=1e6, max_iter=5000).fit(X * 1e4, y)
    m = margins(clf, X * 1e4, y)
    assert m.max() <= 100 and m.min() >= -100
    with pytest.raises(ValueError, match="labels the model does not know"):
        margins(clf, X, y + 5)
    with pytest.raises(ValueError, match="rows but y has"):
        margins(clf, X, y[:-1])


@pytest.mark.parametrize("logits_out", [True, False])
def test_skorch_margins_from_logits(logits_out):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X, y = make_classification(n_samples=64, n_features=6, random_state=0)
    X = X.astype(np.float32)
    layers = [torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)]
    if not logits_out:  # skorch's default: the module outputs probabilities
        layers.append(torch.nn.Softmax(dim=-1))
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(*layers),
        criterion=torch.nn.CrossEntropyLoss if logits_out else torch.nn.NLLLoss,
        max_epochs=3,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    P = net.predict_proba(X).astype(np.float64)
    assert_allclose(margins(net, X, y), _direct(P, y), rtol=1e-4, atol=1e-4)
    if logits_out:
        Z = net.forward(X).numpy().astype(np.float64)
        idx = np.arange(len(y))
        assert_allclose(margins(net, X, y), Z[idx, y] - Z[idx, 1 - y], rtol=1e-6)
