"""Shadow-model membership attack (Shokri et al., 2017) as in the PUMA appendix."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.neural_network import MLPClassifier
from sklearn.utils import _safe_indexing, check_random_state

from ._ensembles import _fit_member
from ._mia_base import MembershipAttack, _check_rows
from ._parallel import parallel_map

__all__ = ["ShadowModelAttack"]


def _attack_features(model, X, y, classes) -> np.ndarray:
    """The unsorted probability vector and the row's loss ``-log p_y``.

    Sorting the vector (Shokri et al.'s original features) hides whether the
    prediction was right; the loss of the true class is the strongest single
    membership signal (the loss-threshold attack's), so the attack model sees
    it too.
    """
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(model, "classes_", classes))
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    p_true = P[np.arange(len(P)), idx]
    p_true = np.where(classes[idx] == y, p_true, 0.0)  # a label never predicted
    loss = -np.log(np.clip(p_true, 1e-12, 1.0))
    return np.column_stack([P, loss])


class ShadowModelAttack(MembershipAttack):
    """Shokri et al.'s attack: shadow models, then one attack model per class.

    As in the PUMA paper's appendix: ``n_shadow`` (5) shadow models are
    trained like the target (clones of the estimator) on disjoint parts of
    the attacker's data; each part is halved into the shadow's training rows
    ("in") and rows it never sees ("out"). For every class, an attack MLP
    with hidden layers 128 and 64 learns from the shadows' probability
    vectors (unsorted, so that they keep whether the prediction was right)
    and the row's loss whether a row was "in". A target's row is scored by
    the attack model of its true class. Shadows train in parallel through
    joblib.

    Parameters
    ----------
    n_shadow : int, default=5
    shadow_size : int or float, default=None
        Rows per shadow training set (a float is a fraction of the data);
        ``None`` splits the data into ``2 * n_shadow`` equal disjoint parts.
        The PUMA appendix uses less than 10% of the training set.
    attack_estimator : classifier, default=None
        ``None`` means ``MLPClassifier(hidden_layer_sizes=(128, 64),
        max_iter=200)``.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=None
    progress : bool, default=None
        tqdm bar over shadow fits (``None``: only on a terminal).

    Attributes
    ----------
    attack_models_ : dict
        Class label -> fitted attack model (a class seen with one membership
        label only falls back to the model pooled over all classes,
        ``attack_models_[None]``).
    threshold_ : float
        0.5: the attack models' own decision.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.metrics import ShadowModelAttack
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> attack = ShadowModelAttack(n_shadow=2, attack_estimator=LogisticRegression(),
    ...                            random_state=0, progress=False)
    >>> attack = attack.fit(LogisticRegression(), X[:200], y[:200])
    >>> len(attack.attack_models_)  # one per class, and the pooled fallback
    3
    """

    needs_shadows = True

    def __init__(
        self,
        n_shadow: int = 5,
        shadow_size=None,
        attack_estimator=None,
        random_state=None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ):
        self.n_shadow = n_shadow
        self.shadow_size = shadow_size
        self.attack_estimator = attack_estimator
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def _parts(self, n, rng):
        k = int(self.n_shadow)
        if k < 1:
            raise ValueError(f"n_shadow must be >= 1, got {self.n_shadow!r}.")
        if self.shadow_size is None:
            size = n // (2 * k)
        elif isinstance(self.shadow_size, float):
            size = int(round(self.shadow_size * n))
        else:
            size = int(self.shadow_size)
        if size < 2 or 2 * k * size > n:
            raise ValueError(
                f"{k} shadow models with {size} training rows each need "
                f"{2 * k * size} disjoint rows (in + out); the data has {n}."
            )
        perm = rng.permutation(n)
        return [
            (perm[2 * i * size : (2 * i + 1) * size], perm[(2 * i + 1) * size :][:size])
            for i in range(k)
        ]

    def fit(self, estimator, X, y):
        """Train the shadow models and the per-class attack models.

        Parameters
        ----------
        estimator : estimator instance
            The target's training recipe; cloned for every shadow.
        X : array-like of shape (n_samples, n_features)
            The attacker's data (disjoint from the target's rows in Shokri's
            setting; the PUMA appendix samples it from the training set).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : ShadowModelAttack
        """
        y, n = _check_rows(X, y)
        rng = check_random_state(self.random_state)
        parts = self._parts(n, rng)
        seeds = rng.randint(0, 2**31 - 1, size=len(parts))
        tasks = [
            (estimator, X, y, inn, None, int(s))
            for (inn, _), s in zip(parts, seeds, strict=True)
        ]
        shadows = parallel_map(
            _fit_member,
            tasks,
            n_jobs=self.n_jobs,
            progress=self.progress,
            desc="shadow models",
        )
        feats, labels, cls = [], [], []
        self.classes_ = np.unique(y)
        for shadow, (inn, out) in zip(shadows, parts, strict=True):
            for rows, is_in in ((inn, True), (out, False)):
                Xr = _safe_indexing(X, rows)
                feats.append(_attack_features(shadow, Xr, y[rows], self.classes_))
                labels.append(np.full(len(rows), is_in))
                cls.append(y[rows])
        F, L, C = np.concatenate(feats), np.concatenate(labels), np.concatenate(cls)
        template = (
            MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=200)
            if self.attack_estimator is None
            else self.attack_estimator
        )
        attack_seed = int(rng.randint(0, 2**31 - 1))

        def fit_attack(mask):
            est = clone(template)
            if "random_state" in est.get_params():
                est.set_params(random_state=attack_seed)
            return est.fit(F[mask], L[mask])

        self.attack_models_ = {None: fit_attack(np.ones(len(L), dtype=bool))}
        for c in np.unique(y):
            mask = C == c
            if len(np.unique(L[mask])) == 2:
                self.attack_models_[c] = fit_attack(mask)
        self.n_classes_ = F.shape[1] - 1
        self.threshold_ = 0.5
        return self

    def score_samples(self, model, X, y) -> np.ndarray:
        """Probability of "member" from the attack model of each row's class.

        Parameters
        ----------
        model : fitted classifier with ``predict_proba``
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        self._check_fitted("attack_models_")
        y = np.asarray(y)
        F = _attack_features(model, X, y, self.classes_)
        if F.shape[1] - 1 != self.n_classes_:
            raise ValueError(
                f"the model predicts {F.shape[1] - 1} classes; the shadows "
                f"predicted {self.n_classes_}."
            )
        out = np.empty(len(y))
        for c in np.unique(y):
            mask = y == c
            att = self.attack_models_.get(c, self.attack_models_[None])
            proba = att.predict_proba(F[mask])
            out[mask] = proba[:, list(att.classes_).index(True)]
        return out
