"""Per-column affine maps between the outputs of two fitted preprocessors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["affine_map_is_identity"]


def affine_map_is_identity(M: np.ndarray, *, atol: float = 0.0) -> bool:
    """Whether an augmented feature map ``M`` changes nothing.

    Parameters
    ----------
    M : ndarray of shape (d + 1, d + 1)
        Augmented map with ``[z_old, 1] = M @ [z_new, 1]``, as returned by
        :func:`downdate_preprocessing`.
    atol : float, default=0.0
        Largest accepted absolute difference to the identity matrix. The
        default asks for exact equality, which is what an untouched
        preprocessor gives.

    Returns
    -------
    bool
        True when ``M`` is the identity (within ``atol``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.preprocessing import affine_map_is_identity
    >>> affine_map_is_identity(np.eye(3))
    True
    >>> affine_map_is_identity(np.diag([2.0, 1.0, 1.0]))
    False
    """
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix, got shape {M.shape}.")
    diff = np.abs(M - np.eye(M.shape[0]))
    return bool(np.all(diff <= atol))


class ColumnMap:
    """``x_old = a * x_new + b`` column by column, with the map's provenance.

    ``sources[j]`` names the StandardScaler steps (by path) whose downdate
    made column ``j`` differ between the old and the new preprocessor; a
    step that cannot carry an affine change uses it to say which scalers
    must be left alone.
    """

    __slots__ = ("a", "b", "sources")

    def __init__(self, a, b, sources: Sequence[frozenset] | None = None):
        self.a = np.asarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        if sources is None:
            sources = [frozenset()] * len(self.a)
        self.sources = list(sources)

    @classmethod
    def identity(cls, d: int) -> ColumnMap:
        return cls(np.ones(d), np.zeros(d))

    def __len__(self) -> int:
        return len(self.a)

    @property
    def changed(self) -> np.ndarray:
        """Boolean mask of the columns the map really changes."""
        return (self.a != 1.0) | (self.b != 0.0)

    def is_identity(self) -> bool:
        return not bool(self.changed.any())

    def changed_sources(self, mask=None) -> frozenset:
        """Union of the sources of the changed columns (within ``mask``)."""
        changed = self.changed if mask is None else self.changed & mask
        out: frozenset = frozenset()
        for j in np.flatnonzero(changed):
            out = out | self.sources[j]
        return out

    def take(self, idx) -> ColumnMap:
        idx = np.asarray(idx, dtype=np.intp).reshape(-1)
        return ColumnMap(self.a[idx], self.b[idx], [self.sources[j] for j in idx])

    def scaled_output(self, weight: float) -> ColumnMap:
        """The map of ``weight * x`` (a transformer weight in a union)."""
        return ColumnMap(self.a, self.b * weight, self.sources)

    @staticmethod
    def concat(maps: Iterable[ColumnMap]) -> ColumnMap:
        maps = list(maps)
        if not maps:
            return ColumnMap(np.zeros(0), np.zeros(0))
        return ColumnMap(
            np.concatenate([m.a for m in maps]),
            np.concatenate([m.b for m in maps]),
            [s for m in maps for s in m.sources],
        )

    def augmented(self) -> np.ndarray:
        """The ``(d + 1, d + 1)`` matrix with ``[x_old, 1] = M @ [x_new, 1]``."""
        d = len(self.a)
        M = np.zeros((d + 1, d + 1))
        M[np.arange(d), np.arange(d)] = self.a
        M[:d, d] = self.b
        M[d, d] = 1.0
        return M
