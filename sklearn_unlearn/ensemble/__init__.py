"""Ensembles built for unlearning: SISA's sharded, sliced training."""

from ._sisa import SISAClassifier

__all__ = ["SISAClassifier"]
