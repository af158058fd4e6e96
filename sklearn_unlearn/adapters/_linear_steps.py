"""What an unlearning step needs from a linear model, in the adapters' shared words.

:class:`LinearStepMixin` gives :class:`~sklearn_unlearn.adapters.LinearAdapter`
the vocabulary that :class:`~sklearn_unlearn.adapters._torch.SkorchAdapter`
also speaks (through its own mixin), so that every method's ``prepare`` and
``step`` are written once: the gradient change of a request, the exact
Hessian's Cholesky factor and its low-rank up/downdates, the empirical Fisher,
the certified-removal bound and the geometry it needs (Gram matrix, radius).

Requests, rows and states arrive duck-typed (``request.remove.X``,
``state.residual_bound``, ...): the adapters never import the methods.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la
from scipy.special import expit, softmax

from ..curvature import (
    BlockDiagonalFisherInverse,
    CholeskyCurvature,
    EmpiricalFisherInverse,
    NotPositiveDefiniteError,
)
from ..curvature._cholesky import default_rank_limit
from ._losses import BinomialLoss, MultinomialLoss

__all__ = ["LinearStepMixin", "model_outputs"]

#: SSSE's ``damping="auto"`` on a linear model: the paper's small start ``F_0``
FISHER_DAMPING = 1e-4
#: requests of at most this many rows update the curvature through the rows'
#: factors (also when it is then refactored), which keep the proven bound on
#: its smallest eigenvalue without a new certification
FEW_ROWS = 8


def model_outputs(adapter, theta, X):
    """The model's outputs on ``X`` and the vector-Jacobian product of its link.

    Returns ``(out, vjp)``: ``out`` is ``(n, n_outputs)`` (probabilities of
    every class for a probabilistic classifier) and ``vjp(g)`` maps a
    gradient with respect to ``out`` to one with respect to the linear
    predictor ``eta`` (shape ``(n, K)``).
    """
    eta = adapter.linear_predictor(theta, X)
    loss = adapter.loss
    if isinstance(loss, BinomialLoss):
        p1 = expit(eta[:, 0])
        out = np.column_stack([1.0 - p1, p1])
        return out, lambda g: ((g[:, 1] - g[:, 0]) * p1 * (1.0 - p1))[:, None]
    if isinstance(loss, MultinomialLoss):
        P = softmax(eta, axis=1)
        return P, lambda g: P * (g - np.sum(g * P, axis=1, keepdims=True))
    if getattr(loss, "power", None) is not None:  # log link
        mu = np.exp(eta)
        return mu, lambda g: g * mu
    return eta, lambda g: g


class LinearStepMixin:
    """The unlearning-step vocabulary of a linear model (NumPy, exact curvature).

    Capabilities: ``convex`` (True: exact Newton refits and certificates
    apply), ``finetunable`` (False: no torch module to train) and
    ``matrix_free_curvature`` (False: the curvature is always the exact
    Cholesky factor).
    """

    convex = True
    finetunable = False
    matrix_free_curvature = False

    # ---------------------------------------------------------- conversions
    @property
    def input_checks(self) -> dict:
        """``check_array`` options for rows in the model's input features."""
        return {"accept_sparse": "csr", "dtype": np.float64}

    @property
    def gives_probabilities(self) -> bool:
        """Whether the model gives class probabilities (a classifier's outputs)."""
        return isinstance(self.loss, BinomialLoss | MultinomialLoss)

    def as_float64(self, v) -> np.ndarray:
        """``v`` as a float64 array."""
        return np.asarray(v, dtype=np.float64)

    def to_numpy(self, v) -> np.ndarray:
        """``v`` as a float64 NumPy array."""
        return np.asarray(v, dtype=np.float64)

    def empty_directions(self) -> np.ndarray:
        """A ``(n_params, 0)`` matrix of directions."""
        return np.zeros((self.n_params, 0))

    def add_step(self, theta, step) -> np.ndarray:
        """``theta + step``."""
        return theta + step

    def step_norm(self, step) -> float:
        """Euclidean norm of a parameter step."""
        return float(np.linalg.norm(step))

    def without_null_directions(self, v):
        """``v`` of shape ``(p,)`` or ``(p, m)`` off :meth:`null_directions`."""
        Z = self.null_directions()
        if Z.shape[1]:
            v = v - Z @ (Z.T @ v)
        return v

    # --------------------------------------------------------- row products
    def row_gradient_products(self, theta, X, y_enc, V) -> np.ndarray:
        """``grad loss_i . v_j`` for every row ``i`` and column ``v_j`` of ``V``.

        A linear model's gradient is ``r_i (x) x~_i`` (``r_i = d loss / d eta``),
        so ``grad loss_i . v = sum_k r_ik (x~_i . v_k)``: one product of the
        rows with ``V`` reshaped like the coefficients, never the ``(n, p)``
        gradients.

        Returns
        -------
        ndarray of shape (n, m)
        """
        V = np.asarray(V, dtype=np.float64).reshape(self.n_params, -1)
        if X.shape[0] == 0:
            return np.zeros((0, V.shape[1]))
        r, _ = self.loss.derivatives(self.linear_predictor(theta, X), y_enc)
        # linear_predictor(v, X)[:, k] = x~ . v_k: the X-space product
        return np.column_stack(
            [np.sum(r * self.linear_predictor(v, X), axis=1) for v in V.T]
        )

    def output_pullback(self, theta, X):
        """The outputs on ``X`` and ``G -> grad_theta`` for output gradients ``G``.

        Returns ``(out, pull)``: ``out`` of shape ``(n, n_outputs)`` (class
        probabilities of a probabilistic classifier, else predictions) and
        ``pull(G)`` for ``G`` of shape ``(m, n, n_outputs)``, of shape ``(p, m)``.
        """
        out, vjp = model_outputs(self, theta, X)

        def pull(G):
            return np.column_stack([self._xt_dot(X, vjp(g)).T.ravel() for g in G])

        return out, pull

    # ------------------------------------------------------ gradient change
    def gradient_change(self, theta, request, state):
        """Gradient of the new objective at ``theta`` minus that of the old one.

        ``sum_add c grad l - sum_remove c grad l + (lam_new - lam_old) P theta``
        plus ``state.pending_gradient``: at an optimum of the old objective
        this is the new objective's gradient.

        Returns
        -------
        g : ndarray of shape (n_params,)
        w_new : float
            Total row weight after the request.
        dlam : float
            Change of the penalty strength.
        """
        g = np.zeros(self.n_params)
        if request.add.n:
            g += self.gradient(theta, request.add.X, request.add.y, request.add.c)
        if request.remove.n:
            g -= self.gradient(
                theta, request.remove.X, request.remove.y, request.remove.c
            )
        w_new = state.total_weight - request.remove.weight + request.add.weight
        dlam = self.penalty_strength(w_new) - self.penalty_strength(state.total_weight)
        if dlam:
            g += dlam * self.penalty_mask * theta
        if state.pending_gradient is not None:
            g += state.pending_gradient
        return g, w_new, dlam

    # ------------------------------------------------------------- curvature
    def _penalised_hessian(self, theta, rows, hessian=None) -> np.ndarray:
        if hessian is None:
            lam = self.penalty_strength(rows.weight)
            hessian = self.hessian(theta, rows.X, rows.y, rows.c)
            hessian = hessian + lam * np.diag(self.penalty_mask)
        return hessian

    def newton_curvature(self, spec, theta, rows, hessian=None):
        """The exact Hessian's Cholesky factor (``spec``: a ``Newton``'s settings).

        ``hessian`` is the objective's Hessian when the caller has it already.
        """
        if spec.curvature not in ("auto", "cholesky"):
            raise ValueError(
                f"curvature={spec.curvature!r} is for nets; a linear model's "
                "curvature is always the exact Cholesky factor."
            )
        if spec.downdate is False:
            raise ValueError(
                "downdate=False is for nets; a linear model's curvature is always "
                "downdated exactly."
            )
        damping = 0.0 if spec.damping == "auto" else float(spec.damping)
        return CholeskyCurvature(
            self._penalised_hessian(theta, rows, hessian),
            null_directions=self.null_directions(),
            damping=damping,
        )

    def fisher_curvature(self, spec, theta, rows):
        """SSSE's empirical Fisher inverse, whole or in ``spec.block_size`` blocks."""
        if spec.curvature not in ("auto", "block"):
            raise ValueError(
                f"curvature={spec.curvature!r} is for nets; a linear model's "
                "empirical Fisher is always kept whole ('block')."
            )
        damping = FISHER_DAMPING if spec.damping == "auto" else spec.damping
        lam = self.penalty_strength(rows.weight)
        diagonal = lam * self.penalty_mask + damping
        if spec.block_size is None:
            op = EmpiricalFisherInverse(diagonal, block_rows=spec.block_rows)
        else:
            op = BlockDiagonalFisherInverse(
                diagonal, block_size=spec.block_size, block_rows=spec.block_rows
            )
        for start in range(0, rows.n, self.chunk_size):
            s = slice(start, start + self.chunk_size)
            G = self.per_sample_gradients(theta, rows.X[s], rows.y[s])
            op = op.updated(add=(G * np.sqrt(rows.c[s])[:, None]).T)
        return op

    def curvature_upper_bound(self, theta, rows, hessian=None) -> float:
        """The largest eigenvalue of the objective's exact Hessian."""
        hessian = self._penalised_hessian(theta, rows, hessian)
        top = la.eigh(
            hessian, eigvals_only=True, subset_by_index=[len(hessian) - 1] * 2
        )
        return float(top[0])

    def curvature_trace(self, theta, rows) -> float:
        """``sum_i c_i tr(hess l_i)``: how far ``rows`` can raise the top eigenvalue."""
        eta = self.linear_predictor(theta, rows.X)
        _, A = self.loss.derivatives(eta, rows.y)
        trace = np.trace(A, axis1=1, axis2=2) * rows.c
        return float(self.gram(rows.X, trace).trace())

    def curvature_factors(self, theta, rows):
        """Factors ``(V_plus, V_minus)``, ``V+ V+^T - V- V-^T = sum_i c_i hess l_i``."""
        if rows.n == 0:
            return np.zeros((self.n_params, 0)), np.zeros((self.n_params, 0))
        eta = self.linear_predictor(theta, rows.X)
        _, A = self.loss.derivatives(eta, rows.y)
        lam, Q = np.linalg.eigh(np.asarray(A) * rows.c[:, None, None])  # (n,K),(n,K,K)
        Xt = rows.X.toarray() if hasattr(rows.X, "toarray") else np.asarray(rows.X)
        if self.fit_intercept:
            Xt = np.hstack([Xt, np.ones((Xt.shape[0], 1))])
        # column (i, j) = sqrt(|lam_ij|) * Q[i, :, j] (x) x~_i
        cols = np.sqrt(np.abs(lam))[:, None, :] * Q  # (n, K, K): [:, k, j]
        V = np.einsum("nkj,nd->kdnj", cols, Xt).reshape(self.n_params, -1)
        sign = (lam >= 0).reshape(-1)
        return V[:, sign], V[:, ~sign]

    def updated_curvature(
        self,
        curvature,
        theta,
        request,
        dlam: float,
        *,
        floor: float = 0.0,
        matrix: str = "gauss_newton",
        downdate="auto",
    ):
        """Exact Hessian of the new objective from the cached one, without old rows.

        Rows removed subtract their curvature at ``theta``, rows added add
        theirs; a GLM's penalty change shifts the diagonal. Few rows: rank-one
        updates of the Cholesky factor; many: one dense downdate and a
        refactorisation. ``matrix`` and ``downdate`` are for nets (a linear
        model's Gauss-Newton matrix is its Hessian, always downdated).

        Returns ``(curvature, repaired)``. A row's curvature is subtracted at
        the current parameters, not at those where it was added (which are not
        kept: they depend on forgotten rows), so after long streams on small
        data the downdated matrix can lose positive definiteness. For a
        penalised, non-quadratic objective it is then repaired by clipping its
        eigenvalues at the penalty ``floor`` (the objective's own), and
        ``repaired`` is True so that the caller drops the certificate. A
        quadratic objective's cache is exact, so there the loss means the
        remaining problem is singular: raise.
        """
        shift = dlam * self.penalty_mask if dlam else None
        rank = (request.remove.n + request.add.n) * self.n_outputs
        limit = curvature.refactor_rank
        if limit is None:
            limit = default_rank_limit(self.n_params)
        # a few rows go through their factors even when the matrix is then
        # refactored: the factors carry the bound on the smallest eigenvalue
        # (their leverage) through the update, which spares a certification
        if rank <= max(limit, FEW_ROWS) and shift is None:
            rp, rm = self.curvature_factors(theta, request.remove)
            ap, am = self.curvature_factors(theta, request.add)
            try:
                new = curvature.updated(
                    remove=np.hstack([rp, am]), add=np.hstack([ap, rm])
                )
                return new, False
            except NotPositiveDefiniteError:
                pass
        delta = np.zeros((self.n_params, self.n_params))
        if request.add.n:
            delta += self.hessian(theta, request.add.X, request.add.y, request.add.c)
        if request.remove.n:
            delta -= self.hessian(
                theta, request.remove.X, request.remove.y, request.remove.c
            )
        try:
            return curvature.updated(delta=delta, shift=shift), False
        except NotPositiveDefiniteError:
            if self.is_quadratic or floor <= 0:
                raise  # the cache is exact: the remaining problem is singular
            H = curvature.matrix_ + delta + (0 if shift is None else np.diag(shift))
            return curvature.clipped(H, floor=floor), True

    def updated_fisher(self, curvature, theta, request):
        """The empirical Fisher inverse with the request's rows' terms moved."""
        factors = {}
        for key, rows in (("remove", request.remove), ("add", request.add)):
            if rows.n:
                G = self.per_sample_gradients(theta, rows.X, rows.y)
                factors[key] = (G * np.sqrt(rows.c)[:, None]).T
        return curvature.updated(**factors)

    def apply_inverse_curvature(
        self, curvature, theta, v, rows=None, total_weight=None
    ):
        """``(curvature^{-1} v, curvature)``; ``rows`` are for matrix-free nets."""
        return curvature.solve(v), curvature

    def curvature_solver(self, curvature, theta, rows, total_weight):
        """What applies the inverse curvature (``solve(v)``): the cached operator."""
        return curvature

    # ------------------------------------------------------------ certificate
    def updated_geometry(self, gram, radius, request):
        """New Gram matrix and radius of the certificate after the request.

        The radius is the largest row norm. When a removed row may attain it,
        it is recomputed from the retained rows if the caller passed them,
        else dropped (``inf``: no certificate until it is known again), so
        that the model never keeps the norm of a forgotten row.
        """
        gram = gram.copy()
        if request.add.n:
            gram += self.gram(request.add.X, request.add.c)
        if request.remove.n:
            gram -= self.gram(request.remove.X, request.remove.c)
            gone = self.max_row_norm(request.remove.X)
            if np.isfinite(radius) and gone >= radius * (1.0 - 1e-9):
                retain = request.retain
                radius = self.max_row_norm(retain.X) if retain is not None else np.inf
        if request.add.n:
            radius = max(radius, self.max_row_norm(request.add.X))
        return gram, radius

    def newton_certificate(
        self,
        state,
        request,
        step,
        gram,
        radius,
        damping=0.0,
        *,
        repaired=False,
        moved_cubed=None,
    ):
        """Certified bound (Guo et al. 2020, Thm. 1 generalised) after a Newton step.

        With ``L3`` the Lipschitz constant of the loss curvature in the linear
        predictor and ``R`` the largest row norm, the new gradient satisfies

            ||grad J'(theta + step)|| <= B_old
                + L3 R ||step||_G (drift_G + ||step||_G / 2)
                + cache_error * ||step|| + damping * ||step||

        where ``||v||_G^2 = tr(V G V^T)`` over the rows that remain, ``drift_G``
        bounds the distance to the point of the last exact curvature, and
        ``cache_error`` bounds the error of curvature subtracted or added away
        from that point: a row moved at distance ``drift_2`` from it adds at
        most ``L3 c_i ||x~_i||^3 drift_2`` (summed over the request's rows); a
        damped step ``(H + damping I) s = -g`` leaves ``-damping * s`` of the
        gradient behind (``moved_cubed``, that sum over the request's rows,
        when the caller has it). Returns the new ``(bound, drift_g, drift_2,
        cache_error)``; the bound is ``None`` when the loss has no global
        ``L3``, and infinite after a ``repaired`` curvature (no certificate
        until an exact solve or a retrain).
        """
        L3 = self.loss.third_derivative_bound
        if self.n_outputs == 1:
            step_g = float(np.sqrt(max(float(step @ gram @ step), 0.0)))
        else:
            S = step.reshape(self.n_outputs, self.n_cols)
            step_g = float(np.sqrt(max(np.einsum("kd,de,ke->", S, gram, S), 0.0)))
        step_2 = float(np.sqrt(step @ step))
        if L3 is None or state.residual_bound is None:
            bound = None
            cache_error = state.cache_error
        elif not np.isfinite(radius):  # the largest row left; see updated_geometry
            bound = np.inf
            cache_error = state.cache_error
        else:
            if moved_cubed is None:
                moved_cubed = sum(
                    self.cubed_norm_sum(rows.X, rows.c)
                    for rows in (request.remove, request.add)
                    if rows.n
                )
            cache_error = state.cache_error + L3 * moved_cubed * state.drift_2
            bound = (
                state.residual_bound
                + L3 * radius * step_g * (state.drift_g + 0.5 * step_g)
                + cache_error * step_2
                + damping * step_2
            )
        if repaired:
            bound = np.inf
        return bound, state.drift_g + step_g, state.drift_2 + step_2, cache_error
