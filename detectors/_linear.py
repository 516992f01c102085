"""The standardised logistic regression that ``spectrum`` and ``dct`` fit on their features, and its
fitted state as arrays (for the runner's cache of fitted detectors)."""

from __future__ import annotations

import numpy as np


def standardised_logistic(C: float):
    """Per-feature standardisation, then a class-balanced logistic regression of inverse strength ``C``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))


def state_of(model) -> dict:
    """What a fitted :func:`standardised_logistic` learnt, as numpy arrays."""
    scaler, logistic = model[0], model[-1]
    return {"mean": scaler.mean_, "scale": scaler.scale_, "var": scaler.var_, "samples": np.array(scaler.n_samples_seen_),
            "coef": logistic.coef_, "intercept": logistic.intercept_, "classes": logistic.classes_}


def from_state(state: dict, C: float):
    """The fitted :func:`standardised_logistic` that :func:`state_of` described: same predictions, bit for bit."""
    model = standardised_logistic(C)
    scaler, logistic = model[0], model[-1]
    scaler.mean_, scaler.scale_, scaler.var_ = state["mean"], state["scale"], state["var"]
    scaler.n_samples_seen_, scaler.n_features_in_ = state["samples"], len(state["mean"])
    logistic.coef_, logistic.intercept_, logistic.classes_ = state["coef"], state["intercept"], state["classes"]
    logistic.n_features_in_ = len(state["mean"])
    return model
