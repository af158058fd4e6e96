"""Measure forgetting: margins, KLoM, membership attacks, distances, scorers."""

from ._distance import (
    deletion_metric,
    model_parameters,
    retrain_distance,
    similarity_ratio,
)
from ._ensembles import (
    EnsemblePlan,
    accepts_forget,
    ensemble_plan,
    fit_oracles,
    fit_unlearned,
)
from ._klom import klom, klom_from_margins, klom_summary
from ._lira import LiRA, ULiRA
from ._loss_attack import LossAttack
from ._margins import margins
from ._mia_base import MembershipAttack, membership_summary
from ._report import unlearning_report
from ._scorers import (
    make_klom_scorer,
    make_membership_scorer,
    make_retrain_distance_scorer,
    make_utility_scorer,
)
from ._shadow_attack import ShadowModelAttack

__all__ = [
    "EnsemblePlan",
    "LiRA",
    "LossAttack",
    "MembershipAttack",
    "ShadowModelAttack",
    "ULiRA",
    "accepts_forget",
    "deletion_metric",
    "ensemble_plan",
    "fit_oracles",
    "fit_unlearned",
    "klom",
    "klom_from_margins",
    "klom_summary",
    "make_klom_scorer",
    "make_membership_scorer",
    "make_retrain_distance_scorer",
    "make_utility_scorer",
    "margins",
    "membership_summary",
    "model_parameters",
    "retrain_distance",
    "similarity_ratio",
    "unlearning_report",
]
