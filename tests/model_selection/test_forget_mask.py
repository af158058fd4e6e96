import re

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from sklearn_unlearn.model_selection import sample_forget_mask


def test_random_is_stratified_and_sized():
    y = np.array([0] * 80 + [1] * 20)
    mask = sample_forget_mask(y, 0.1, random_state=0)
    assert mask.sum() == 10 and mask[y == 0].sum() == 8 and mask[y == 1].sum() == 2
    assert sample_forget_mask(y, 7, stratify=False, random_state=0).sum() == 7
    assert np.array_equal(
        sample_forget_mask(y, 0.1, random_state=3),
        sample_forget_mask(y, 0.1, random_state=3),
    )


def test_cluster_takes_whole_clusters_per_class():
    # per class: one small far-away blob of 6 rows and a big blob of 54
    centers = [[0, 0], [20, 20], [0, 20], [-20, -20]]
    X, blob = make_blobs(
        n_samples=[54, 6, 54, 6], centers=centers, cluster_std=0.5, random_state=0
    )
    y = np.array([0, 0, 1, 1])[blob]
    mask = sample_forget_mask(y, 12, "cluster", random_state=0, X=X, n_clusters=2)
    assert np.array_equal(mask, np.isin(blob, [1, 3]))  # the smallest cluster
    # by default clusters hold about the class's quota: the size is close
    mask = sample_forget_mask(y, 12, "cluster", random_state=0, X=X)
    assert 2 <= mask[y == 0].sum() <= 6 and 2 <= mask[y == 1].sum() <= 6


def test_bad_input():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="needs the features"):
        sample_forget_mask(y, 0.2, "cluster")
    with pytest.raises(ValueError, match="strategy"):
        sample_forget_mask(y, 0.2, "nope")
    with pytest.raises(ValueError, match="fewer than all"):
        sample_forget_mask(y, 10)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        sample_forget_mask(y, 1.5)
    with pytest.raises(TypeError, match="size"):
        sample_forget_mask(y, "a")
    with pytest.raises(ValueError, match="rows but y has"):
        sample_forget_mask(y, 2, "cluster", X=np.zeros((3, 2)))


def test_cluster_without_x_shows_the_corrected_call():
    """A call that omits X gets an error showing the call with X=X."""
    y = np.arange(100) % 2
    fix = "sample_forget_mask(y, 0.05, strategy='cluster', random_state=0, X=X)"
    with pytest.raises(ValueError, match=re.escape(fix)):
        sample_forget_mask(y, 0.05, strategy="cluster", random_state=0)
    # the call it shows works
    X = np.random.RandomState(0).normal(size=(100, 2))
    assert sample_forget_mask(y, 0.05, strategy="cluster", random_state=0, X=X).any()
    with pytest.raises(ValueError, match=r"random_state=random_state, X=X\)"):
        sample_forget_mask(y, 3, "cluster", random_state=np.random.RandomState(0))
