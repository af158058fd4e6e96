"""Shadow-model membership attack (Shokri et al., 2017)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer
from sklearn.utils import _safe_indexing, check_random_state

from ._ensembles import _fit_member, _seeded
from ._margins import MARGIN_CLIP, find_net, logits, margins_from_logits
from ._mia_base import MembershipAttack, _check_rows
from ._parallel import parallel_map

__all__ = ["ShadowModelAttack"]

#: Column of the loss in :func:`_attack_features` (then the margin, last).
_LOSS = -2
#: One-sided 5% level of the paired DeLong test the attack models must pass.
_Z = 1.645


def _model_classes(model, fallback):
    classes = getattr(model, "classes_", None)
    if classes is None:
        net = find_net(model)
        classes = getattr(net, "classes_", None) if net is not None else None
    return np.asarray(fallback if classes is None else classes)


def _attack_features(model, X, y, classes) -> np.ndarray:
    """What the attack model sees of a row: features that keep its label.

    The unsorted probability vector (Shokri et al. sort it, which hides
    whether the prediction was right), the probability of the true class,
    the loss ``log(1 + exp(-m))`` and the margin ``m = logit_y - logsumexp(
    other logits)`` (the LiRA statistic, ``log(p_y / (1 - p_y))`` for a
    softmax model; it keeps the resolution that ``p_y`` loses near 1). The
    loss and the margin are computed exactly as :class:`LossAttack` does, so
    thresholding the loss column *is* the loss attack. A label the model
    never predicts gets ``p_y = 0`` and the clipped margin ``-100``.
    """
    y = np.asarray(y)
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    Z = logits(model, X)
    cls = _model_classes(model, classes)
    idx = np.clip(np.searchsorted(cls, y), 0, len(cls) - 1)
    known = cls[idx] == y
    rows = np.arange(len(y))
    p_true = np.where(known, P[rows, idx], 0.0)
    m = np.where(known, margins_from_logits(Z, idx), -MARGIN_CLIP)
    loss = np.logaddexp(0.0, -m)
    return np.column_stack([P, p_true, loss, m])


def _default_attack_estimator(n_rows):
    """Shokri et al.'s attack MLP (128, 64) on rank-scaled features."""
    return make_pipeline(
        QuantileTransformer(n_quantiles=max(2, min(1000, n_rows))),
        MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=200),
    )


class ShadowModelAttack(MembershipAttack):
    """Shokri et al.'s attack: shadow models, then one attack model per class.

    The attacker holds a pool of rows from the target's distribution (in
    Shokri et al.'s setting, disjoint from the target's training rows).
    ``n_shadow`` shadow models are trained like the target (clones of its
    recipe); each draws its own rows from the pool at random, independently
    of the other shadows (so they overlap, as in Shokri et al., 2017): a
    random half of the pool (``shadow_size`` rows, stratified by class) is
    its training set ("in"), the other half rows it never sees ("out"). For
    every class, an attack model learns from the shadows' outputs on their
    in and out rows whether a row was "in"; a target's row is scored by the
    attack model of its true class. Shadows train in parallel through joblib.

    **Features that keep the label.** A row's features are the unsorted
    probability vector, the true class's probability, the row's loss and its
    margin (the scaled logit of the true class). Shokri et al. sort the
    vector, which hides whether the prediction was right; the loss is the
    loss-threshold attack's statistic (Yeom et al., 2018), computed exactly
    as :class:`LossAttack` does.

    **Never weaker than the loss threshold (by validation).** The attack
    model gets the loss as a feature, so it can represent the threshold; the
    default attack MLP (hidden layers 128 and 64, as in Shokri et al. and the
    PUMA paper's appendix) sees the features through a quantile transform,
    so the heavy-tailed loss and margin reach it on one scale, with their
    order kept. Whether it learned more than the threshold is checked on
    shadow models and rows it was not trained on (``loss_fallback=True``):
    the shadows are split in two folds (even and odd ones) and the pool's
    rows in two random halves; the attack models trained on one fold's
    shadows and rows score the other fold's shadows on the other rows (a
    row seen under other shadows would leak its label: its outputs look
    alike whenever it is in), and these out-of-fold scores are compared
    with minus the loss on the same rows by a paired, one-sided DeLong test
    of their ROC AUCs at the 5% level (with one shadow, the rows' halves
    alone make the folds). Unless the attack models are significantly better,
    the attack scores rows by minus their loss (``scoring_ = "loss"``),
    which ranks rows exactly as :class:`LossAttack`; otherwise by the attack
    models refitted on every shadow (``scoring_ = "attack_model"``). A
    held-out shadow is a model trained like the target on rows drawn like
    the target's, so the choice carries over to the target; the test is
    one-sided in the loss's favour because the loss needs no training and
    cannot overfit the shadows.

    Parameters
    ----------
    n_shadow : int, default=5
        Number of shadow models.
    shadow_size : int or float, default=None
        Training rows of each shadow (a float is a fraction of the pool);
        each shadow also draws as many "out" rows, so ``2 * shadow_size``
        may not exceed the pool. ``None`` means half the pool (every row is
        in or out of every shadow). Shokri et al. give each shadow as many
        rows as the target's training set.
    attack_estimator : classifier, default=None
        Cloned once per class and once pooled over all classes. ``None``
        means ``make_pipeline(QuantileTransformer(), MLPClassifier(
        hidden_layer_sizes=(128, 64), max_iter=200))``: Shokri et al.'s
        attack MLP, on features mapped to their ranks (at most 1,000
        quantiles, fewer for fewer rows).
    loss_fallback : bool, default=True
        Validate the attack models against the loss threshold on held-out
        shadows and score by the loss unless they beat it. ``False`` always
        scores by the attack models (Shokri et al.'s attack as published,
        with the features above) and skips the validation's two extra fits.
    random_state : int, RandomState instance or None, default=None
        Seeds the shadows' draws, their training and the attack models.
    n_jobs : int, default=None
        Shadow models trained in parallel (joblib).
    progress : bool, default=None
        tqdm bar over shadow fits (``None``: only on a terminal).

    Attributes
    ----------
    attack_models_ : dict
        Class label -> fitted attack model, trained on every shadow; a class
        seen with one membership label only falls back to the model pooled
        over all classes, ``attack_models_[None]``.
    shadow_splits_ : list of tuple of ndarray
        Per shadow, the pool positions of its "in" and "out" rows.
    scoring_ : {"attack_model", "loss"}
        What ``score_samples`` returns: the attack model's probability of
        "member", or minus the row's loss.
    validation_auc_ : dict or None
        Out-of-fold ROC AUC of the attack models (``"attack_model"``) and
        the ROC AUC of the loss (``"loss"``) on the shadows' rows; ``None``
        when ``loss_fallback=False``, or when a fold lacks "in" or "out"
        rows (too few rows to validate: the loss then scores).
    threshold_ : float
        The decision rule ``score > threshold_``: 0.5 for the attack models;
        for the loss, minus the mean loss of the shadows' "out" rows (as
        :class:`LossAttack` calibrates on rows a model never saw).

    See Also
    --------
    LossAttack : The loss-threshold attack the attack models are checked against.
    LiRA : Per-row likelihood ratios from many shadow models.

    References
    ----------
    .. [1] R. Shokri, M. Stronati, C. Song and V. Shmatikov, "Membership
       inference attacks against machine learning models", IEEE S&P 2017.
    .. [2] S. Yeom, I. Giacomelli, M. Fredrikson and S. Jha, "Privacy risk in
       machine learning: analyzing the connection to overfitting", CSF 2018.
    .. [3] E. R. DeLong, D. M. DeLong and D. L. Clarke-Pearson, "Comparing
       the areas under two or more correlated receiver operating
       characteristic curves: a nonparametric approach", Biometrics 1988.

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
    >>> [len(rows) for rows in attack.shadow_splits_[0]]  # in, out: the pool halved
    [100, 100]
    >>> attack.scoring_ in ("attack_model", "loss")
    True
    """

    needs_shadows = True

    def __init__(
        self,
        n_shadow: int = 5,
        shadow_size=None,
        attack_estimator=None,
        loss_fallback: bool = True,
        random_state=None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ):
        self.n_shadow = n_shadow
        self.shadow_size = shadow_size
        self.attack_estimator = attack_estimator
        self.loss_fallback = loss_fallback
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def _draws(self, y, rng):
        """Per shadow, its "in" and "out" pool positions, drawn independently."""
        n, k = len(y), int(self.n_shadow)
        if k < 1:
            raise ValueError(f"n_shadow must be >= 1, got {self.n_shadow!r}.")
        if self.shadow_size is None:
            size = n // 2
        elif isinstance(self.shadow_size, float):
            size = int(round(self.shadow_size * n))
        else:
            size = int(self.shadow_size)
        if size < 2 or 2 * size > n:
            raise ValueError(
                f"a shadow model with {size} training rows draws {2 * size} rows "
                f"(in + out) from the pool; the pool has {n}."
            )
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 and size >= len(counts) else None
        out = []
        for _ in range(k):
            seed = int(rng.randint(0, 2**31 - 1))
            inn, out_ = train_test_split(
                np.arange(n),
                train_size=size,
                test_size=size,
                stratify=stratify,
                random_state=seed,
            )
            out.append((np.sort(inn), np.sort(out_)))
        return out

    def fit(self, estimator, X, y):
        """Train the shadow models and the per-class attack models.

        Parameters
        ----------
        estimator : estimator instance
            The target's training recipe; cloned for every shadow.
        X : array-like of shape (n_samples, n_features)
            The attacker's pool of rows (disjoint from the target's rows in
            Shokri et al.'s setting).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : ShadowModelAttack
        """
        y, n = _check_rows(X, y)
        rng = check_random_state(self.random_state)
        self.classes_ = np.unique(y)
        splits = self._draws(y, rng)
        seeds = rng.randint(0, 2**31 - 1, size=len(splits))
        tasks = [
            (estimator, X, y, inn, None, int(s))
            for (inn, _), s in zip(splits, seeds, strict=True)
        ]
        shadows = parallel_map(
            _fit_member,
            tasks,
            n_jobs=self.n_jobs,
            progress=self.progress,
            desc="shadow models",
        )
        feats, labels, cls, group, pos = [], [], [], [], []
        for i, (shadow, (inn, out)) in enumerate(zip(shadows, splits, strict=True)):
            for rows, is_in in ((inn, True), (out, False)):
                Xr = _safe_indexing(X, rows)
                feats.append(_attack_features(shadow, Xr, y[rows], self.classes_))
                labels.append(np.full(len(rows), is_in))
                cls.append(y[rows])
                group.append(np.full(len(rows), i))
                pos.append(rows)
        widths = {f.shape[1] for f in feats}
        if len(widths) != 1:
            raise ValueError(
                "the shadow models predict different numbers of classes; give "
                "each shadow more rows (shadow_size) so that it sees every class."
            )
        F, L, C = np.concatenate(feats), np.concatenate(labels), np.concatenate(cls)
        G, R = np.concatenate(group), np.concatenate(pos)
        self.n_classes_ = F.shape[1] - 3
        attack_seed = int(rng.randint(0, 2**31 - 1))
        self.scoring_ = "attack_model"
        self.validation_auc_ = None
        if self.loss_fallback:
            self._validate(F, L, C, G, R, len(splits), attack_seed, rng)
        self.attack_models_ = self._fit_attack_models(F, L, C, attack_seed)
        self.shadow_splits_ = splits
        if self.scoring_ == "loss":
            self.threshold_ = float(-np.mean(F[~L, _LOSS]))
        else:
            self.threshold_ = 0.5
        return self

    def _validate(self, F, L, C, G, R, k, seed, rng):
        """Out-of-fold attack-model scores against the loss; set ``scoring_``.

        ``G`` is each attack row's shadow and ``R`` its position in the pool.
        A fold is validated on rows and shadows the attack models never saw:
        a shadow's outputs on a pool row look alike whenever the row is in
        (or out), so a row seen under other shadows would leak its label.
        """
        pool_rows = np.unique(R)
        half = (rng.permutation(len(pool_rows)) % 2)[np.searchsorted(pool_rows, R)]
        parity = G % 2 if k > 1 else half
        held_out = np.zeros(len(L), dtype=bool)
        oof = np.empty(len(L))
        for f in (0, 1):
            train = (parity != f) & (half != f)
            held = (parity == f) & (half == f)
            if len(np.unique(L[train])) < 2 or len(np.unique(L[held])) < 2:
                self.scoring_ = "loss"  # too few rows to show the models better
                return
            models = self._fit_attack_models(F[train], L[train], C[train], seed)
            oof[held] = _score(models, F[held], C[held])
            held_out |= held
        Lh = L[held_out]
        (auc_model, auc_loss), se = _paired_auc(Lh, oof[held_out], -F[held_out, _LOSS])
        self.validation_auc_ = {"attack_model": auc_model, "loss": auc_loss}
        if not np.isfinite(se) or auc_model - auc_loss <= _Z * se:
            self.scoring_ = "loss"

    def _fit_attack_models(self, F, L, C, seed):
        def fit_one(mask):
            template = (
                _default_attack_estimator(int(mask.sum()))
                if self.attack_estimator is None
                else self.attack_estimator
            )
            return _seeded(template, seed).fit(F[mask], L[mask])

        models = {None: fit_one(np.ones(len(L), dtype=bool))}
        for c in np.unique(C):
            mask = C == c
            if len(np.unique(L[mask])) == 2:
                models[c] = fit_one(mask)
        return models

    def score_samples(self, model, X, y) -> np.ndarray:
        """Membership score of each row under ``model``; higher means member.

        The attack model of each row's class gives its probability of
        "member" (``scoring_ == "attack_model"``), or the row's loss is
        negated (``scoring_ == "loss"``).

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
        if F.shape[1] - 3 != self.n_classes_:
            raise ValueError(
                f"the model predicts {F.shape[1] - 3} classes; the shadows "
                f"predicted {self.n_classes_}."
            )
        if self.scoring_ == "loss":
            return -F[:, _LOSS]
        return _score(self.attack_models_, F, y)


def _midrank_auc_components(pos, neg):
    """DeLong's structural components of the AUC of ``pos`` against ``neg``."""
    m, n = len(pos), len(neg)
    all_ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (all_ranks[:m] - rankdata(pos)) / n
    v01 = 1.0 - (all_ranks[m:] - rankdata(neg)) / m
    return v10, v01


def _paired_auc(member, a, b):
    """ROC AUCs of two scores of the same rows and the standard error of
    their difference (DeLong, DeLong and Clarke-Pearson, 1988)."""
    member = np.asarray(member, dtype=bool)
    comps = [_midrank_auc_components(s[member], s[~member]) for s in (a, b)]
    aucs = tuple(float(np.mean(v10)) for v10, _ in comps)
    d10 = comps[0][0] - comps[1][0]
    d01 = comps[0][1] - comps[1][1]
    var = np.var(d10, ddof=1) / len(d10) + np.var(d01, ddof=1) / len(d01)
    return aucs, float(np.sqrt(max(var, 0.0)))


def _score(models, F, y) -> np.ndarray:
    """Each row's probability of "member" from the attack model of its class."""
    out = np.empty(len(y))
    for c in np.unique(y):
        mask = y == c
        att = models.get(c, models[None])
        proba = att.predict_proba(F[mask])
        out[mask] = proba[:, list(att.classes_).index(True)]
    return out
