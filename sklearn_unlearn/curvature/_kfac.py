"""A net's damped curvature as per-layer Kronecker factors (K-FAC).

For a fully connected layer ``z = W a + b`` the Gauss-Newton block of its
parameters ``[W | b]`` is ``sum_i (g_i g_i^T) (x) (a~_i a~_i^T)`` with
``a~ = [a, 1]`` and ``g_i`` the output-side factor of row ``i`` (the gradient
of ``sqrt(lambda) q . s`` with respect to ``z``; see
``SkorchAdapter.gauss_newton_factor``). K-FAC (Martens & Grosse, 2015)
replaces the sum of Kronecker products by the product of sums,

    B_l = scale / m * (sum_i g_i g_i^T) (x) (sum_i a~_i a~_i^T) = G (x) A,

keeps nothing across layers, and inverts each damped block through the
eigendecompositions of its two small factors:

    (G (x) A + d I)^{-1} = (Q_G (x) Q_A) diag(1 / (l_G (x) l_A + d)) (Q_G (x) Q_A)^T,

``O(d_out^2 d_in + d_out d_in^2)`` a layer per solve and ``d_out^2 + d_in^2``
floats a layer, whatever the number of rows. ``d`` is the damping plus the
layer's mean weight-decay floor (the decay is uniform within a layer unless
the optimizer's groups split it; then this is an approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._base import NotPositiveDefiniteError
from ._torch_base import TorchCurvatureOperator

__all__ = ["KroneckerFactoredCurvature", "KroneckerLayer"]


@dataclass
class KroneckerLayer:
    """One fully connected layer's factors and where its parameters sit.

    Attributes
    ----------
    weight : torch.Tensor of shape (d_out * d_in,)
        Positions of the weight's entries in ``theta`` (row-major ``W``).
    bias : torch.Tensor of shape (d_out,) or None
        Positions of the bias, if the layer has one.
    G : torch.Tensor of shape (d_out, d_out)
    A : torch.Tensor of shape (d_in (+ 1), d_in (+ 1))
        The last row and column belong to the bias when there is one.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    G: torch.Tensor
    A: torch.Tensor


class KroneckerFactoredCurvature(TorchCurvatureOperator):
    """``blockdiag_l(G_l (x) A_l) + d``, inverted layer by layer.

    Parameters
    ----------
    layers : list of KroneckerLayer
        Every trainable parameter belongs to exactly one layer.
    n_params : int
    floor : torch.Tensor of shape (p,)
        The weight-decay floor per parameter (its mean per layer is used).
    damping : float, default=0.0
    factored_damping : bool, default=True
        Damp each factor instead of their product (Martens & Grosse, 2015,
        Sec. 6.3): ``(G + sqrt(d) pi I) (x) (A + sqrt(d) / pi I)`` with
        ``pi^2`` the ratio of the factors' mean eigenvalues. It adds
        ``sqrt(d) (l_G / pi + pi l_A)`` to every eigenvalue ``l_G l_A + d``,
        more damping where one factor is large and the other small (the
        directions the Kronecker product misjudges most). False damps the
        product exactly by ``d``.
    notes : tuple of str, default=()

    Examples
    --------
    >>> import torch
    >>> from sklearn_unlearn.curvature import KroneckerFactoredCurvature
    >>> from sklearn_unlearn.curvature._kfac import KroneckerLayer
    >>> G = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> A = torch.tensor([[1.0, 0.2], [0.2, 3.0]], dtype=torch.float64)
    >>> layer = KroneckerLayer(torch.tensor([0, 1]), torch.tensor([2, 3]), G, A)
    >>> op = KroneckerFactoredCurvature([layer], 4, torch.zeros(4), damping=0.1,
    ...                                 factored_damping=False)
    >>> M = torch.kron(G, A) + 0.1 * torch.eye(4, dtype=torch.float64)
    >>> b = torch.tensor([1.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    >>> order = torch.tensor([0, 2, 1, 3])  # [W | b] row-major
    >>> x = torch.empty(4, dtype=torch.float64)
    >>> x[order] = torch.linalg.solve(M, b[order])
    >>> bool(torch.allclose(op.solve(b), x))
    True
    """

    kind = "kfac"

    def __init__(
        self,
        layers,
        n_params: int,
        floor,
        *,
        damping=0.0,
        factored_damping: bool = True,
        notes=(),
    ):
        if not float(damping) >= 0.0:
            raise ValueError(f"damping must be >= 0, got {damping}.")
        self.damping = float(damping)
        self.notes = tuple(notes)
        self._n_params = int(n_params)
        floor = torch.as_tensor(floor).detach()
        covered = torch.zeros(self._n_params, dtype=torch.bool)
        self.layers_ = []
        for layer in layers:
            pos = self._positions(layer)
            if bool(covered[pos.cpu()].any()):
                raise ValueError("a parameter belongs to two layers.")
            covered[pos.cpu()] = True
            d = self.damping + float(floor[pos].mean())
            if not d > 0.0:
                raise NotPositiveDefiniteError(
                    "a K-FAC layer without weight decay needs damping > 0"
                )
            lg, qg = torch.linalg.eigh(0.5 * (layer.G + layer.G.T))
            la, qa = torch.linalg.eigh(0.5 * (layer.A + layer.A.T))
            lg, la = lg.clamp_min(0.0), la.clamp_min(0.0)
            if factored_damping:  # (G + sqrt(d) pi I) (x) (A + sqrt(d) / pi I)
                pi = float((lg.mean() / la.mean().clamp_min(1e-300)).sqrt())
                pi = pi if pi > 0.0 else 1.0
                lg, la = lg + d**0.5 * pi, la + d**0.5 / pi
                scale = lg[:, None] * la[None, :]
            else:
                scale = lg[:, None] * la[None, :] + d
            self.layers_.append((layer, pos, qg, qa, scale))
        if not bool(covered.all()):
            raise ValueError("every parameter must belong to a layer.")
        self._like_tensor = self.layers_[0][2] if self.layers_ else floor

    @staticmethod
    def _positions(layer):
        """``theta``'s positions in the layer's ``[W | b]`` row-major order."""
        d_out = layer.G.shape[0]
        W = layer.weight.reshape(d_out, -1)
        if layer.bias is not None:
            W = torch.cat([W, layer.bias.reshape(d_out, 1)], dim=1)
        return W.reshape(-1)

    @property
    def n_params(self) -> int:
        return self._n_params

    @property
    def _like(self):
        return self._like_tensor

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the factors' eigenvectors and eigenvalue products."""
        total = 0
        for _, pos, qg, qa, scale in self.layers_:
            for t in (pos, qg, qa, scale):
                total += t.numel() * t.element_size()
        return int(total)

    def _solve_tensor(self, b):
        x = torch.empty_like(b)
        for _, pos, qg, qa, scale in self.layers_:
            V = b[pos.to(b.device)].T.reshape(b.shape[1], *scale.shape)
            V = qg.T @ V @ qa / scale
            x[pos.to(b.device)] = (qg @ V @ qa.T).reshape(b.shape[1], -1).T
        return x
