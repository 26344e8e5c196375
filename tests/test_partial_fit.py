"""Online EM: a stream of chunks reaches nearly the batch fit."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, SGDClassifier, SGDRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_classification, make_moe_regression


def _stream(model, X, y, n_chunks, n_epochs=3, **kwargs):
    for _ in range(n_epochs):
        for chunk in np.array_split(np.arange(len(y)), n_chunks):
            model.partial_fit(X[chunk], y[chunk], **kwargs)
    return model


def test_regressor_stream_reaches_the_batch_likelihood():
    X, y = make_moe_regression(n_samples=40_000, n_experts=3, noise=0.3, random_state=0)
    train, test = slice(0, 30_000), slice(30_000, None)
    batch = MixtureOfExpertsRegressor(
        SGDRegressor(random_state=0), n_experts=3, max_iter=30, random_state=0
    ).fit(X[train], y[train])
    online = _stream(
        MixtureOfExpertsRegressor(
            SGDRegressor(random_state=0), n_experts=3, random_state=0
        ),
        X[train],
        y[train],
        n_chunks=30,
    )
    # The first chunk is a batch fit; each later one adds one iteration.
    first = clone(online).fit(X[:1000], y[:1000])
    assert online.n_iter_ == first.n_iter_ + 89
    assert len(online.log_likelihood_path_) == online.n_iter_
    batch_ll = batch.log_likelihood(X[test], y[test]).mean()
    online_ll = online.log_likelihood(X[test], y[test]).mean()
    assert online_ll > batch_ll - 0.03
    assert online.score(X[test], y[test]) > batch.score(X[test], y[test]) - 0.01
    np.testing.assert_allclose(np.sqrt(online.noise_variance_), 0.3, rtol=0.2)


def test_classifier_stream_reaches_the_batch_likelihood():
    X, y = make_moe_classification(
        n_samples=20_000, expert_sharpness=6.0, random_state=0
    )
    labels = np.array(["no", "yes"])[y]
    train, test = slice(0, 15_000), slice(15_000, None)
    batch = MixtureOfExpertsClassifier(n_experts=3, random_state=0).fit(
        X[train], labels[train]
    )
    online = _stream(
        MixtureOfExpertsClassifier(
            SGDClassifier(loss="log_loss", random_state=0), n_experts=3, random_state=0
        ),
        X[train],
        labels[train],
        n_chunks=15,
        classes=["no", "yes"],
    )
    np.testing.assert_array_equal(online.classes_, ["no", "yes"])
    batch_ll = batch.log_likelihood(X[test], labels[test]).mean()
    assert online.log_likelihood(X[test], labels[test]).mean() > batch_ll - 0.1
    assert (
        online.score(X[test], labels[test]) > batch.score(X[test], labels[test]) - 0.04
    )


def test_partial_fit_only_with_experts_that_have_it():
    assert hasattr(MixtureOfExpertsRegressor(SGDRegressor()), "partial_fit")
    assert not hasattr(MixtureOfExpertsRegressor(), "partial_fit")
    assert not hasattr(MixtureOfExpertsClassifier(), "partial_fit")
    X, y = make_moe_regression(n_samples=100, random_state=0)
    with pytest.raises(AttributeError, match="partial_fit"):
        MixtureOfExpertsRegressor(LinearRegression()).partial_fit(X, y)


def test_first_chunk_must_hold_every_class():
    X, y = make_moe_classification(n_samples=200, random_state=0)
    clf = MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss"), n_experts=2)
    with pytest.raises(ValueError, match="every class"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
