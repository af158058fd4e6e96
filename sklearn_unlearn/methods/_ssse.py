"""Single-Step Sample Erasure (Peste, Alistarh & Lampert, 2021)."""

from __future__ import annotations

from numbers import Integral, Real

from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod, uncertified_step

__all__ = ["SSSE"]


class SSSE(UnlearningMethod):
    """Influence step with the empirical Fisher instead of the Hessian.

    ``theta' = theta - epsilon * F^{-1} (grad_add - grad_remove)`` (SSSE eq. 4),
    where ``F = sum_i c_i g_i g_i^T + lam P + damping I`` is the empirical
    Fisher of the training objective, its inverse built at fit by the
    Sherman-Morrison recursion of SSSE eq. (3) (:class:`EmpiricalFisherInverse`)
    from per-row gradients at the fitted parameters. Each request needs only
    the rows to erase; afterwards their rank-one terms are downdated out of
    ``F^{-1}`` so that a stream of requests stays consistent.

    Parameters
    ----------
    epsilon : float, default=1.0
        Step scale; the paper tunes it because the empirical Fisher's scale
        differs from the Hessian's.
    damping : float or "auto", default="auto"
        ``lambda`` of the recursion's start ``F_0 = lambda I`` (plus the
        model's own L2 penalty). ``"auto"``: 1e-4 for a linear model; for a
        **net**, the damping matched to its training run, as
        :class:`Newton`'s (1e-4 for a net at a minimum).
    block_rows : int, default=256
        Rows folded in per Woodbury block of the recursion.
    block_size : int, default=None
        Largest diagonal block of ``F`` (SSSE Sec. 4). For a net the blocks
        are the layers' parameter tensors, each cut into pieces of at most
        ``block_size`` entries (None keeps each tensor whole); for a linear
        model None keeps the full ``p x p`` inverse and an int cuts ``theta``
        into blocks of that size.
    curvature : {"auto", "block", "dual", "lowrank"}, default="auto"
        How a **net**'s empirical Fisher is kept (a linear model's is always
        ``"block"``). ``"block"``: the paper's block-diagonal inverse,
        downdated by each request's rows (``O(n b^2)`` at fit for blocks of
        ``b`` parameters); ``"dual"``: exact, through the rows' ``n x n`` Gram
        matrix; ``"lowrank"``: the top ``rank`` eigenpairs from
        ``curvature_rows`` sampled rows plus the penalty floor and damping.
        The last two are prepared once and kept (see :class:`Newton`).
        ``"auto"``: ``"block"`` for a net of at most ``rank`` parameters or
        when ``block_size`` is given, else ``"dual"`` up to ``min(p, 4 rank)``
        rows, else ``"lowrank"``.
    rank : int, default=512
        Eigenpairs kept by ``curvature="lowrank"``.
    curvature_rows : int or None, default=8192
        Rows sampled by ``curvature="lowrank"`` (None: all).
    random_state : int, RandomState instance or None, default=0
        Seeds the sample of rows and the range finder.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import SSSE
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression(), method=SSSE(epsilon=0.5))
    >>> clf.fit(X, y).unlearn(X[:3], y[:3]).ledger_[-1].method
    'SSSE'
    """

    _parameter_constraints = {
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "damping": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "block_rows": [Interval(Integral, 1, None, closed="left")],
        "block_size": [Interval(Integral, 1, None, closed="left"), None],
        "curvature": [StrOptions({"auto", "block", "dual", "lowrank"})],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "curvature_rows": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        epsilon: float = 1.0,
        damping: float | str = "auto",
        block_rows: int = 256,
        block_size: int | None = None,
        *,
        curvature: str = "auto",
        rank: int = 512,
        curvature_rows: int | None = 8192,
        random_state=0,
    ):
        self.epsilon = epsilon
        self.damping = damping
        self.block_rows = block_rows
        self.block_size = block_size
        self.curvature = curvature
        self.rank = rank
        self.curvature_rows = curvature_rows
        self.random_state = random_state

    def prepare(self, adapter, theta, rows, hessian=None):
        return adapter.fisher_curvature(self, theta, rows)

    def step(self, adapter, state, request):
        theta = state.theta
        g, w_new, _ = adapter.gradient_change(theta, request, state)
        x, _ = adapter.apply_inverse_curvature(state.curvature, theta, g)
        step = -self.epsilon * x
        # the rows' rank-one terms leave F^{-1} (a net's low-rank forms are kept)
        curvature = adapter.updated_fisher(state.curvature, theta, request)
        return uncertified_step(
            adapter, state, request, step, curvature=curvature, total_weight=w_new
        )
