"""Distances between an unlearned model and models retrained without the rows.

* :func:`retrain_distance`: parameters, predictions, probabilities.
* :func:`similarity_ratio`: SSSE's gamma (Peste et al., 2021, eq. 5).
* :func:`deletion_metric`: the weight-pruning paper's logit L1 metric ``d``.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.base import is_regressor
from sklearn.metrics import roc_auc_score

from ._margins import find_net, logits

__all__ = [
    "deletion_metric",
    "model_parameters",
    "retrain_distance",
    "similarity_ratio",
]


def model_parameters(model) -> np.ndarray:
    """A fitted model's parameters as one flat float64 vector.

    A skorch net's module parameters; a linear model's ``coef_`` and
    ``intercept_``; an MLP's ``coefs_`` and ``intercepts_``. Unlearning
    estimators and pipelines are looked through (``estimator_``, last step).

    Parameters
    ----------
    model : fitted estimator

    Returns
    -------
    ndarray of shape (n_parameters,)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import model_parameters
    >>> X, y = make_classification(n_samples=40, n_features=3, n_informative=2,
    ...                            n_redundant=0, random_state=0)
    >>> model_parameters(LogisticRegression().fit(X, y)).shape
    (4,)
    """
    net = find_net(model)
    if net is not None:
        return np.concatenate(
            [p.detach().cpu().numpy().ravel() for p in net.module_.parameters()]
        ).astype(np.float64)
    est = model
    for _ in range(8):
        if hasattr(est, "coef_"):
            parts = [np.ravel(est.coef_), np.ravel(getattr(est, "intercept_", []))]
            return np.concatenate(parts).astype(np.float64)
        if hasattr(est, "coefs_"):
            return np.concatenate(
                [np.ravel(a) for a in (*est.coefs_, *est.intercepts_)]
            ).astype(np.float64)
        if hasattr(est, "estimator_"):
            est = est.estimator_
        elif hasattr(est, "steps"):
            est = est.steps[-1][1]
        else:
            break
    raise TypeError(
        f"cannot read the parameters of {type(model).__name__}: expected a skorch "
        "net, a linear model (coef_) or an MLP (coefs_)."
    )


def _proba(model, X) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    Z = logits(model, X)
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def retrain_distance(model, reference, X=None) -> dict:
    """How far ``model`` is from ``reference`` (usually a retrained model).

    Parameters
    ----------
    model : fitted estimator
        E.g. the unlearned model.
    reference : fitted estimator
        E.g. the model retrained without the forgotten rows.
    X : array-like of shape (n_rows, n_features), default=None
        Rows to compare predictions on; without them only the parameter
        distance is computed (the others are NaN).

    Returns
    -------
    dict
        ``param_distance``: ``||theta - theta_ref|| / ||theta_ref||``;
        ``disagreement``: fraction of rows with a different predicted label;
        ``mean_kl``: mean over rows of KL(model || reference) of the
        predicted class probabilities (clipped at 1e-12). The last two
        compare class predictions: they are NaN for a regressor.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import retrain_distance
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> a = LogisticRegression().fit(X, y)
    >>> retrain_distance(a, a, X)
    {'param_distance': 0.0, 'disagreement': 0.0, 'mean_kl': 0.0}
    """
    t, t_ref = model_parameters(model), model_parameters(reference)
    if t.shape != t_ref.shape:
        raise ValueError(
            f"the models have different parameter counts ({t.size} and {t_ref.size})."
        )
    ref_norm = np.linalg.norm(t_ref)
    diff = np.linalg.norm(t - t_ref)
    out = {
        "param_distance": float(diff / ref_norm if ref_norm > 0 else diff),
        "disagreement": float("nan"),
        "mean_kl": float("nan"),
    }
    if X is None or is_regressor(model):
        return out
    out["disagreement"] = float(
        np.mean(np.asarray(model.predict(X)) != np.asarray(reference.predict(X)))
    )
    P = np.clip(_proba(model, X), 1e-12, 1.0)
    Q = np.clip(_proba(reference, X), 1e-12, 1.0)
    out["mean_kl"] = float(np.mean(np.sum(P * np.log(P / Q), axis=1)))
    return out


def _aucs(model, X, y) -> np.ndarray:
    """One-vs-rest AUC per class on ``(X, y)``; 0 where a class is absent."""
    y = np.asarray(y)
    classes = np.asarray(getattr(model, "classes_", np.unique(y)))
    Z = logits(model, X)
    if len(classes) == 2:
        Z = Z[:, 1:] - Z[:, :1]
        classes = classes[1:]
    out = np.zeros(len(classes))
    for j, c in enumerate(classes):
        pos = y == c
        if pos.any() and not pos.all():
            out[j] = roc_auc_score(pos, Z[:, j])
    return out


def similarity_ratio(model, original, retrained, X_forget, y_forget) -> float:
    """SSSE's similarity ratio gamma on the removed rows (Peste et al., eq. 5).

    ``gamma = D(model, original) / (D(model, original) + D(model, retrained))``
    with ``D(a, b) = sum_i |AUC_i(a) - AUC_i(b)|`` over the outputs ``i``
    (one-vs-rest per class; one output for a binary model), each AUC taken
    on the removed rows ``S`` and set to 0 when ``S`` lacks the class (or
    holds only it), as in the paper. ``gamma > 0.5`` means ``model`` is
    closer to the retrained model than to the original. When both distances
    are 0 the ratio is undefined; 0.5 is returned.

    Parameters
    ----------
    model : fitted classifier
        The unlearned model.
    original : fitted classifier
        Trained with the removed rows.
    retrained : fitted classifier
        Trained without them.
    X_forget : array-like of shape (n_rows, n_features)
    y_forget : array-like of shape (n_rows,)

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import similarity_ratio
    >>> X, y = make_classification(n_samples=100, flip_y=0.3, random_state=0)
    >>> orig = LogisticRegression(C=100).fit(X, y)
    >>> retr = LogisticRegression(C=100).fit(X[20:], y[20:])
    >>> similarity_ratio(retr, orig, retr, X[:20], y[:20])
    1.0
    """
    a = _aucs(model, X_forget, y_forget)
    d_orig = float(np.abs(a - _aucs(original, X_forget, y_forget)).sum())
    d_retr = float(np.abs(a - _aucs(retrained, X_forget, y_forget)).sum())
    if d_orig + d_retr == 0:
        return 0.5
    return d_orig / (d_orig + d_retr)


def _outputs(model, X) -> np.ndarray:
    """Raw outputs: a classifier's logits, a regressor's predictions."""
    net = find_net(model)
    if net is not None or hasattr(model, "decision_function"):
        Z = logits(model, X)
        if Z.shape[1] == 2 and (net is None or _is_binary_logit(net)):
            return Z[:, 1:]  # the single logit, not [0, d]
        return Z
    if hasattr(model, "predict_proba"):
        return logits(model, X)
    P = np.asarray(model.predict(X), dtype=np.float64)
    return P.reshape(len(P), -1)


def _is_binary_logit(net) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(
        getattr(net, "criterion_", None), torch.nn.BCEWithLogitsLoss
    )


def deletion_metric(removal, control, oracle, X) -> float:
    """The weight-pruning paper's deletion metric ``d`` (section 4.1).

    ``d = (S(m_r, m_c, X) - S(m_r, m_o, X)) / |Y|`` with the "logit L1
    distance" ``S(a, b, X) = ||a(X) - b(X)||_1``: ``m_r`` the model after
    deletion, ``m_c`` the control model trained on all rows, ``m_o`` the
    oracle trained without the deleted rows, and ``|Y|`` the number of rows
    in ``X``. Outputs are a classifier's logits (``decision_function``, a
    net's module output, or ``log(predict_proba)``) or a regressor's
    predictions. Positive: the deleted model is closer to the oracle.

    Parameters
    ----------
    removal : fitted estimator
    control : fitted estimator
    oracle : fitted estimator
    X : array-like of shape (n_rows, n_features)

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn.metrics import deletion_metric
    >>> X, y = make_regression(n_samples=50, random_state=0)
    >>> full, rest = Ridge().fit(X, y), Ridge().fit(X[1:], y[1:])
    >>> deletion_metric(rest, full, rest, X) > 0
    True
    """
    r, c, o = (_outputs(m, X) for m in (removal, control, oracle))
    if not (r.shape == c.shape == o.shape):
        raise ValueError(
            f"the models' outputs have different shapes: {r.shape}, {c.shape}, "
            f"{o.shape}."
        )
    n = len(r)
    if n == 0:
        raise ValueError("X holds no rows.")
    return float((np.abs(r - c).sum() - np.abs(r - o).sum()) / n)
