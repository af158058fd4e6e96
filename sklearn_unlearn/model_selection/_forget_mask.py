"""Draw a deletion request: rows at random, or whole k-means clusters per class."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples

__all__ = ["sample_forget_mask"]


def _count(size, n) -> int:
    if isinstance(size, bool) or not isinstance(size, Real):
        raise TypeError(f"size must be a float in (0, 1) or an int, got {size!r}.")
    if isinstance(size, Integral):
        k = int(size)
    elif 0 < size < 1:
        k = int(round(size * n))
    else:
        raise ValueError(f"a float size must lie in (0, 1), got {size!r}.")
    if not 1 <= k < n:
        raise ValueError(
            f"size={size!r} asks for {k} of {n} rows; at least 1 and fewer than "
            "all rows must be forgotten."
        )
    return k


def _quotas(y, k):
    classes, counts = np.unique(y, return_counts=True)
    q = np.floor(k * counts / len(y)).astype(int)
    # largest remainders get the rows left over, as stratified splitting does
    rest = k * counts / len(y) - q
    q[np.argsort(-rest, kind="stable")[: k - q.sum()]] += 1
    return classes, counts, q


def sample_forget_mask(
    y,
    size,
    strategy: str = "random",
    random_state=None,
    *,
    X=None,
    stratify: bool = True,
    n_clusters: int | None = None,
) -> np.ndarray:
    """A boolean mask of rows to forget.

    ``strategy="random"`` draws rows uniformly (per class, in proportion,
    when ``stratify``). ``strategy="cluster"`` follows the PUMA paper's
    protocol (appendix, listing 3): for each class, k-means on that class's
    features, and whole clusters are marked. The class's share of the
    request is ``q`` rows; k-means uses ``n_clusters`` clusters (the listing
    uses 8; by default ``round(n_class / q)``, at least 2, so that a cluster
    holds about ``q`` rows), and clusters are taken
    smallest first (the listing's ``counts.argsort()[0]``) while the total
    stays within ``q``, at least one cluster per class. The mask therefore
    marks about, and usually at most, ``size`` rows. Scale ``X`` first if its
    columns have different units.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    size : float in (0, 1) or int
        Fraction or number of rows.
    strategy : {"random", "cluster"}, default="random"
    random_state : int, RandomState instance or None, default=None
    X : array-like of shape (n_samples, n_features), default=None
        Needed by ``"cluster"`` (keyword-only).
    stratify : bool, default=True
        ``"random"`` only: keep the class proportions.
    n_clusters : int, default=None
        ``"cluster"`` only: k-means clusters per class (capped at the class's
        size); ``None`` picks ``round(n_class / q)``.

    Returns
    -------
    ndarray of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn_unlearn.model_selection import sample_forget_mask
    >>> X, y = make_blobs(n_samples=200, centers=2, random_state=0)
    >>> int(sample_forget_mask(y, 0.05, random_state=0).sum())
    10
    >>> mask = sample_forget_mask(y, 0.05, "cluster", random_state=0, X=X)
    >>> 2 <= int(mask.sum()) <= 12
    True
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {y.shape}.")
    n = len(y)
    k = _count(size, n)
    rng = check_random_state(random_state)
    mask = np.zeros(n, dtype=bool)
    if strategy == "random":
        if not stratify:
            mask[rng.choice(n, size=k, replace=False)] = True
            return mask
        classes, _, q = _quotas(y, k)
        for c, qc in zip(classes, q, strict=True):
            idx = np.flatnonzero(y == c)
            mask[rng.choice(idx, size=min(qc, len(idx) - 1), replace=False)] = True
        return mask
    if strategy != "cluster":
        raise ValueError(f"strategy must be 'random' or 'cluster', got {strategy!r}.")
    if X is None:
        seed = (
            repr(random_state)
            if random_state is None or isinstance(random_state, Integral)
            else "random_state"
        )
        raise ValueError(
            "strategy='cluster' needs the features: k-means groups the rows by "
            "X, which is keyword-only. Call "
            f"sample_forget_mask(y, {size!r}, strategy='cluster', "
            f"random_state={seed}, X=X)."
        )
    if _num_samples(X) != n:
        raise ValueError(f"X has {_num_samples(X)} rows but y has {n}.")
    classes, counts, q = _quotas(y, k)
    for c, nc, qc in zip(classes, counts, q, strict=True):
        if qc == 0 or nc < 2:
            continue
        idx = np.flatnonzero(y == c)
        k_c = max(2, round(nc / qc)) if n_clusters is None else int(n_clusters)
        if k_c < 2:
            raise ValueError(f"n_clusters must be >= 2, got {n_clusters!r}.")
        km = KMeans(
            n_clusters=min(k_c, nc), n_init="auto", random_state=rng.randint(2**31 - 1)
        )
        labels = km.fit(np.asarray(_safe_indexing(X, idx), dtype=np.float64)).labels_
        values, sizes = np.unique(labels, return_counts=True)
        order = np.argsort(sizes, kind="stable")
        taken, total = [], 0
        for j in order:
            if taken and total + sizes[j] > qc:
                break
            taken.append(values[j])
            total += sizes[j]
        mask[idx[np.isin(labels, taken)]] = True
    return mask
