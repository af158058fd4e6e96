"""ForgetSplit: cross-validation folds for judging how well a model forgot."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator, KFold, StratifiedKFold
from sklearn.utils.validation import _num_samples

from ..utils._validation import check_forget_mask as _check_mask

__all__ = ["ForgetSplit"]


def check_forget_mask(forget, n: int) -> np.ndarray:
    """Validate a forget mask of length ``n`` marking some, not all, rows."""
    if forget is None:
        raise ValueError(
            "ForgetSplit needs the forget mask: call split(X, y, forget=mask). In a "
            "search, turn metadata routing on with "
            "sklearn.set_config(enable_metadata_routing=True) and pass "
            "search.fit(X, y, forget=mask); the mask then reaches the splitter, the "
            "estimator's fit and the scorers."
        )
    return _check_mask(forget, n, require_some=True)


class ForgetSplit(BaseCrossValidator):
    """Folds whose test part holds forgotten rows beside true non-members.

    The rows not marked in ``forget`` are split into ``n_splits`` folds
    (stratified by class when ``stratify``). Split ``k`` trains on every
    marked row plus the other folds, so ``fit(X, y, forget=mask)`` trains on
    the marked rows and then forgets them; its test part holds the same
    marked rows plus held-out fold ``k``. Train and test therefore overlap
    on the forgotten rows (scikit-learn allows this), and a scorer sees
    rows that were forgotten next to rows the model never saw; the routed
    ``forget`` slice tells them apart.

    The mask must be routed (``set_config(enable_metadata_routing=True)``,
    then ``search.fit(X, y, forget=mask)``): it reaches ``split``, the
    estimator's ``fit`` and the scorers. Scorers that need the training
    fold find it through the fitted candidate, which keeps weak references
    to the rows it was fitted on; see
    :func:`~sklearn_unlearn.metrics.make_klom_scorer`.

    Parameters
    ----------
    n_splits : int, default=5
    forget_size : float or int, default=None
        The request's size as drawn with :func:`sample_forget_mask`. When
        given, the routed mask must mark between half and twice that many
        rows (a check that the right mask was routed); ``None`` skips it.
    stratify : bool, default=True
        Stratify the held-out folds by class.
    random_state : int, RandomState instance or None, default=None
        Shuffling of the folds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.model_selection import ForgetSplit
    >>> X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    >>> forget = np.arange(20) < 2
    >>> train, test = next(ForgetSplit(2, random_state=0).split(X, y, forget=forget))
    >>> len(train), len(test), bool(forget[test].sum() == 2)
    (11, 11, True)
    """

    __metadata_request__split = {"forget": True}

    def __init__(
        self,
        n_splits: int = 5,
        forget_size=None,
        stratify: bool = True,
        random_state=None,
    ):
        self.n_splits = n_splits
        self.forget_size = forget_size
        self.stratify = stratify
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None, forget=None) -> int:
        """Number of splits.

        Returns
        -------
        int
        """
        return int(self.n_splits)

    def _check_size(self, mask, n):
        size = self.forget_size
        if size is None:
            return
        if isinstance(size, bool) or not isinstance(size, Real):
            raise TypeError(f"forget_size must be a number, got {size!r}.")
        want = size * n if not isinstance(size, Integral) else size
        got = int(mask.sum())
        if not want / 2 <= got <= 2 * want:
            raise ValueError(
                f"the routed forget mask marks {got} rows but forget_size="
                f"{size!r} asks for about {want:.0f}: was the right mask routed?"
            )

    def split(self, X, y=None, groups=None, forget=None):
        """Yield ``(train, test)`` index arrays; both hold the forget rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
        groups : ignored
        forget : ndarray of bool, shape (n_samples,)
            Rows to forget (routed metadata).

        Yields
        ------
        train, test : ndarray of int
        """
        if not isinstance(self.n_splits, Integral) or self.n_splits < 2:
            raise ValueError(
                f"n_splits must be an integer >= 2, got {self.n_splits!r}."
            )
        n = _num_samples(X)
        mask = check_forget_mask(forget, n)
        self._check_size(mask, n)
        y_arr = None if y is None else np.asarray(y)
        if y_arr is not None and len(y_arr) != n:
            raise ValueError(f"X has {n} rows but y has {len(y_arr)}.")
        f_idx, r_idx = np.flatnonzero(mask), np.flatnonzero(~mask)
        if len(r_idx) < self.n_splits:
            raise ValueError(
                f"{len(r_idx)} rows are not marked for forgetting; {self.n_splits} "
                "held-out folds need at least one each."
            )
        if self.stratify and y_arr is not None:
            folds = StratifiedKFold(
                self.n_splits, shuffle=True, random_state=self.random_state
            )
            inner = folds.split(r_idx, y_arr[r_idx])
        else:
            folds = KFold(self.n_splits, shuffle=True, random_state=self.random_state)
            inner = folds.split(r_idx)
        for k, (keep, held) in enumerate(inner):
            train = np.sort(np.concatenate([f_idx, r_idx[keep]]))
            test = np.sort(np.concatenate([f_idx, r_idx[held]]))
            if y_arr is not None and len(np.unique(y_arr[r_idx[keep]])) < 2:
                raise ValueError(
                    f"split {k}: the rows left after forgetting hold a single class "
                    f"({y_arr[r_idx[keep]][0]!r}); a classifier needs two. Forget "
                    "fewer rows or use fewer splits."
                )
            yield train, test

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        raise NotImplementedError("ForgetSplit defines split directly.")
