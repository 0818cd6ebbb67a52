"""Bayesian logistic regression with a Laplace (Gaussian) posterior.

The posterior after a batch of labelled rows is approximated by a Gaussian at its mode,
with the inverse Hessian of the negative log posterior as covariance. Used as the prior
for the next batch, this updates a model incrementally (assumed-density filtering): each
decision is read once, and the result after many batches is close to one fit on all of
them.
"""

from dataclasses import dataclass

import numpy as np

NEWTON_STEPS = 50
TOLERANCE = 1e-8
MAX_STEP = 1.0


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for any z


@dataclass(frozen=True)
class Gaussian:
    mean: np.ndarray        # [d]
    cov: np.ndarray         # [d, d]

    def inflated(self, variance: float) -> "Gaussian":
        """The same belief, less sure: what forgetting, or pooling across levels, adds."""
        if variance <= 0:
            return self
        return Gaussian(self.mean, self.cov + variance * np.eye(len(self.mean)))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "cov": self.cov.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "Gaussian":
        return cls(np.asarray(data["mean"], dtype=float), np.asarray(data["cov"], dtype=float))


def laplace(prior: Gaussian, X: np.ndarray, y: np.ndarray,
            offset: np.ndarray | None = None) -> Gaussian:
    """The posterior of ``w`` in ``P(y=1) = sigmoid(X·w + offset)`` given ``prior``: its
    mode by Newton's method with backtracking (plain Newton can overshoot far from the
    mode), and the curvature there."""
    if len(y) == 0:
        return prior
    precision0 = np.linalg.inv(prior.cov)
    offset = np.zeros(len(y)) if offset is None else offset

    def objective(w):
        z = X @ w + offset
        return (np.sum(np.logaddexp(0, z) - y * z)
                + 0.5 * (w - prior.mean) @ precision0 @ (w - prior.mean))

    w = prior.mean.copy()
    value = objective(w)
    for _ in range(NEWTON_STEPS):
        p = sigmoid(X @ w + offset)
        gradient = X.T @ (p - y) + precision0 @ (w - prior.mean)
        hessian = (X * (p * (1 - p))[:, None]).T @ X + precision0
        step = np.linalg.solve(hessian, gradient)
        for _ in range(30):
            candidate = w - step
            new_value = objective(candidate)
            if new_value <= value + 1e-12:
                break
            step = step / 2
        w, value = candidate, new_value
        if np.max(np.abs(step)) < TOLERANCE:
            break
    p = sigmoid(X @ w + offset)
    hessian = (X * (p * (1 - p))[:, None]).T @ X + precision0
    cov = np.linalg.inv(hessian)
    return Gaussian(w, (cov + cov.T) / 2)


def laplace_intercepts(prior_mean: np.ndarray, prior_var: np.ndarray, groups: np.ndarray,
                       offset: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many independent one-dimensional posteriors at once: for each group g, the
    intercept ``b_g`` in ``P(y=1) = sigmoid(offset + b_g)``, prior N(prior_mean[g],
    prior_var[g]). ``groups`` holds each row's group index. Newton steps vectorised over
    the groups."""
    b = prior_mean.astype(float).copy()
    size = len(b)
    for _ in range(NEWTON_STEPS):
        p = sigmoid(offset + b[groups])
        gradient = np.bincount(groups, p - y, size) + (b - prior_mean) / prior_var
        curvature = np.bincount(groups, p * (1 - p), size) + 1.0 / prior_var
        # Capped steps: each group's objective is concave in one variable, so a bounded
        # Newton step cannot run away the way a full one can far from the mode.
        step = np.clip(gradient / curvature, -MAX_STEP, MAX_STEP)
        b -= step
        if np.max(np.abs(step), initial=0.0) < TOLERANCE:
            break
    p = sigmoid(offset + b[groups])
    curvature = np.bincount(groups, p * (1 - p), size) + 1.0 / prior_var
    return b, 1.0 / curvature
