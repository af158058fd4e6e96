"""Which adapter serves a model: the linear one, or the skorch one for nets.

This module never imports torch: a skorch net is recognised by its class
hierarchy, and the torch code is imported only once a net is actually met.
"""

from __future__ import annotations

from ._linear import check_linear_model

__all__ = ["check_model", "is_skorch_net"]


def is_skorch_net(estimator) -> bool:
    """True for an instance of a skorch ``NeuralNet`` (or a subclass).

    Parameters
    ----------
    estimator : object

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.adapters import is_skorch_net
    >>> is_skorch_net(LogisticRegression())
    False
    """
    return any(
        cls.__name__ == "NeuralNet" and cls.__module__.split(".")[0] == "skorch"
        for cls in type(estimator).__mro__
    )


def check_model(estimator) -> None:
    """Refuse, with a clear message, a model that no adapter handles exactly.

    skorch nets are checked by :func:`check_skorch_net`, everything else by
    :func:`~sklearn_unlearn.adapters.check_linear_model`.

    Parameters
    ----------
    estimator : estimator instance

    Raises
    ------
    TypeError, ValueError
        Naming what is not supported.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.adapters import check_model
    >>> check_model(LogisticRegression())  # supported: no error
    """
    if is_skorch_net(estimator):
        from ._skorch_fit import check_skorch_net

        check_skorch_net(estimator)
    else:
        check_linear_model(estimator)
