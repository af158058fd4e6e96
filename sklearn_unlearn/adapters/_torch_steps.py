"""What an unlearning step needs from a skorch net, in the adapters' shared words.

:class:`NetStepMixin` gives :class:`~sklearn_unlearn.adapters._torch.SkorchAdapter`
the vocabulary :class:`~sklearn_unlearn.adapters.LinearAdapter` also speaks, so
that every method's ``prepare`` and ``step`` are written once. Everything stays
in torch on the net's device; the state's ``theta`` is a torch tensor. A net is
never trained to an exact optimum, so every step uses only the *change* of the
gradient that the request makes (the removed and added rows' gradients and the
change of the weight decay), never the fit-time gradient, and carries no
certificate.

Requests, rows and states arrive duck-typed: the adapters never import the
methods.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..curvature._base import NotPositiveDefiniteError
from ..curvature._kfac import KroneckerFactoredCurvature
from ..curvature._low_rank import LowRankCurvature
from ..curvature._net_operators import IterativeNetCurvature, net_matvec
from ..curvature._torch_cholesky import TorchCholeskyCurvature
from ._net_curvature import (
    curvature_upper_bound,
    fisher_columns,
    fisher_curvature,
    newton_curvature,
    row_tensors,
)

__all__ = ["NetStepMixin"]


class NetStepMixin:
    """The unlearning-step vocabulary of a skorch net (torch, damped curvature).

    Capabilities: ``convex`` (False: no exact refits, no certificate),
    ``finetunable`` (True: the training-based methods can fine-tune its
    module) and ``matrix_free_curvature`` (True: CG and LiSSA over the rows
    that remain).
    """

    convex = False
    finetunable = True
    matrix_free_curvature = True

    # ---------------------------------------------------------- conversions
    @property
    def input_checks(self) -> dict:
        """``check_array`` options for rows in the net's input features."""
        return {"dtype": self.numpy_dtype, "allow_nd": True, "ensure_2d": False}

    @property
    def gives_probabilities(self) -> bool:
        """Whether the net gives class probabilities (a classifier's outputs)."""
        return self.criterion in ("ce", "nll", "bce")

    def as_float64(self, v) -> torch.Tensor:
        """``v`` as a float64 tensor on its device."""
        return v.to(torch.float64)

    def to_numpy(self, v) -> np.ndarray:
        """``v`` as a float64 NumPy array (on the host)."""
        return v.double().cpu().numpy()

    def empty_directions(self) -> torch.Tensor:
        """A ``(n_params, 0)`` float64 matrix of directions on the net's device."""
        return torch.zeros((self.n_params, 0), dtype=torch.float64, device=self.device)

    def add_step(self, theta, step) -> torch.Tensor:
        """``theta + step`` in ``theta``'s dtype and device."""
        return theta + step.to(dtype=theta.dtype, device=theta.device)

    def step_norm(self, step) -> float:
        """Euclidean norm of a parameter step."""
        return float(torch.linalg.vector_norm(step))

    def without_null_directions(self, v):
        """``v`` unchanged: a net's objective has no flat direction by design."""
        return v

    # --------------------------------------------------------- row products
    def row_gradient_products(self, theta, X, y_enc, V) -> np.ndarray:
        """``grad l_i . v_j`` for every row ``i`` and column ``v_j`` of ``V``.

        One forward-mode Jacobian-vector product of the per-row losses per
        column (:meth:`row_loss_jvp`), never the ``(n, p)`` gradients.

        Returns
        -------
        ndarray of shape (n, m)
        """
        V = V.reshape(self.n_params, -1)
        if X.shape[0] == 0:
            return np.zeros((0, V.shape[1]))
        return self.row_loss_jvp(theta, X, y_enc, V).double().cpu().numpy()

    def output_pullback(self, theta, X):
        """The outputs on ``X`` and ``G -> grad_theta`` for output gradients ``G``.

        Returns ``(out, pull)``: ``out`` a float64 array of shape
        ``(n, n_outputs)`` (:meth:`predict_outputs`) and ``pull(G)`` for ``G``
        of shape ``(m, n, n_outputs)``, a float64 tensor of shape ``(p, m)``
        (one vector-Jacobian product of the outputs per column).
        """
        out = self.predict_outputs(theta, X).double().cpu().numpy()

        def pull(G):
            return self.outputs_vjp(theta, X, G).double()

        return out, pull

    # ------------------------------------------------------ gradient change
    def gradient_change(self, theta, request, state):
        """``sum_A c grad l - sum_S c grad l + dlam P theta`` at ``theta``, in torch.

        Returns ``(g, w_new, dlam)``: the gradient change, the new total weight
        and the change of the penalty strength (the weight decay scales with
        the rows that remain, as skorch's mean loss does).
        """
        g = torch.zeros_like(theta)
        if request.add.n:
            g += self.gradient(theta, *row_tensors(self, request.add))
        if request.remove.n:
            g -= self.gradient(theta, *row_tensors(self, request.remove))
        w_new = state.total_weight - request.remove.weight + request.add.weight
        dlam = self.penalty_strength(w_new) - self.penalty_strength(state.total_weight)
        if dlam:
            g += dlam * self.penalty_mask * theta
        return g, w_new, dlam

    # ------------------------------------------------------------- curvature
    def newton_curvature(self, spec, theta, rows, hessian=None):
        """``Newton``'s damped curvature (``spec``: its settings; no ``hessian``)."""
        return newton_curvature(self, spec, theta, rows)

    def fisher_curvature(self, spec, theta, rows):
        """SSSE's empirical Fisher inverse (``spec``: its settings)."""
        return fisher_curvature(self, spec, theta, rows)

    def curvature_upper_bound(self, theta, rows, hessian=None) -> float:
        """1.1 times a power-iteration estimate of the curvature's top eigenvalue."""
        return curvature_upper_bound(self, theta, rows)

    def curvature_trace(self, theta, rows) -> float:
        """Trace of ``rows``' Gauss-Newton term: how far it can raise the top one."""
        V = self.gauss_newton_factor(theta, *row_tensors(self, rows))
        return float((V * V).sum())

    def _gauss_newton_factors(self, theta, request) -> dict:
        factors = {}
        for key, rows in (("add", request.add), ("remove", request.remove)):
            if rows.n:
                factors[key] = self.gauss_newton_factor(theta, *row_tensors(self, rows))
        return factors

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
        """The curvature of the objective that remains; ``(operator, repaired)``.

        Only when ``downdate`` says so (``"auto"``: the dense curvature only;
        a matrix-free one is never kept). Rows' Gauss-Newton terms are taken
        at the *current* parameters and folded into the cached inverse by
        Woodbury, ``O(p^2 r)``, or into the low-rank factor; a Hessian change
        is refactorised. The parameters where a row's term went in are not
        kept (the fit-time parameters are a model trained on the forgotten
        rows), so a removed row's term differs from the one it added by the
        parameters' drift since. Should that leave the dense matrix
        indefinite, its eigenvalues are raised to the penalty floor
        (``O(p^3)``) and ``repaired`` is True. ``floor`` is the linear
        models' (a net's curvature carries its own).
        """
        shift = dlam * self.penalty_mask if dlam else None
        if isinstance(curvature, TorchCholeskyCurvature) and downdate is not False:
            if matrix == "hessian":
                delta = None
                for rows, sign in ((request.add, 1.0), (request.remove, -1.0)):
                    if rows.n:
                        X, y, c = row_tensors(self, rows)
                        d = sign * self.hessian(theta, X, y, c)
                        delta = d if delta is None else delta + d
                return curvature.updated(delta=delta, shift=shift), False
            factors = self._gauss_newton_factors(theta, request)
            try:
                return curvature.updated(shift=shift, **factors), False
            except NotPositiveDefiniteError:
                return curvature.clipped(shift=shift, **factors), True
        if isinstance(curvature, LowRankCurvature) and downdate is True:
            factors = self._gauss_newton_factors(theta, request)
            return curvature.updated(shift=shift, **factors), False
        if isinstance(curvature, KroneckerFactoredCurvature) and downdate is True:
            raise ValueError(
                "curvature='kfac' keeps no per-row terms to take out: use "
                "downdate='auto' (the damped influence step) or "
                "curvature='lowrank' with downdate=True."
            )
        return curvature, False

    def updated_fisher(self, curvature, theta, request):
        """The block Fisher without the rows' terms; the low-rank forms are kept."""
        if isinstance(curvature, LowRankCurvature):
            return curvature
        for key, rows in (("add", request.add), ("remove", request.remove)):
            if rows.n:
                X, y, c = row_tensors(self, rows)
                for U in fisher_columns(self, theta, X, y, c):
                    curvature = curvature.updated(**{key: U})
        return curvature

    def _matvec(self, theta, rows, total_weight, matrix):
        X, y, c = row_tensors(self, rows)
        penalty = self.penalty_strength(total_weight)
        return net_matvec(self, theta, X, y, c, penalty=penalty, matrix=matrix)

    def apply_inverse_curvature(
        self, curvature, theta, v, rows=None, total_weight=None
    ):
        """``(curvature^{-1} v, curvature)``.

        A matrix-free curvature (CG, LiSSA) is solved over ``rows`` with the
        penalty of ``total_weight``, and returned with the solve's report;
        it raises :class:`NotPositiveDefiniteError` when the iteration
        diverged.
        """
        if isinstance(curvature, LowRankCurvature):
            return curvature.solve(v.to(curvature.U_.dtype)), curvature
        if isinstance(curvature, IterativeNetCurvature):
            mv = self._matvec(theta, rows, total_weight, curvature.matrix)
            return curvature.solved(mv, self.n_params, v.to(torch.float64))
        return curvature.solve(v), curvature

    def curvature_solver(self, curvature, theta, rows, total_weight):
        """What applies the inverse curvature (``solve(v)``).

        The cached operator, or for a matrix-free ``curvature`` the CG / LiSSA
        operator over ``rows`` at ``theta`` (penalty of ``total_weight``).
        """
        if isinstance(curvature, IterativeNetCurvature):
            mv = self._matvec(theta, rows, total_weight, curvature.matrix)
            return curvature.operator(mv, self.n_params)
        return curvature

    # ------------------------------------------------------------ certificate
    def updated_geometry(self, gram, radius, request):
        """``(gram, radius)`` unchanged: a net carries no certificate geometry."""
        return gram, radius

    def newton_certificate(
        self, state, request, step, gram, radius, damping=0.0, *, repaired=False
    ):
        """No certificate: ``(None, inf, drift_2 + ||step||, cache_error)``."""
        return None, math.inf, state.drift_2 + self.step_norm(step), state.cache_error
