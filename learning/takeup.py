"""P(borrower accepts an offer | its terms and the competing offers): a conditional logit
with an outside option.

For the offers ``k`` one application received, each with utility ``u_k = θ·f_k``:

    P(accept k) = exp(u_k) / (1 + Σ_j exp(u_j)),   P(accept none) = 1 / (1 + Σ_j exp(u_j))

with features ``f`` = [1, 10·APR, shortfall, 10·(APR − the cheapest competing APR)], where
shortfall = max(0, 1 − offered amount / requested amount). θ has a Gaussian prior
(borrowers dislike a high APR, a short amount and a dearer-than-rival offer) and a Laplace
posterior, updated on each batch of applications whose offers are all closed.

At routing time the competing offers are not known yet: a product's take-up is scored
with its mid APR, its maximum amount against the request, and the cheapest mid APR among
the products eligible for the same applicant as the competition.
"""

from dataclasses import dataclass, field

import numpy as np

from learning.bayes import Gaussian, sigmoid

NAMES = ("intercept", "apr", "shortfall", "apr_above_best")
PRIOR_MEAN = np.array([1.0, -1.0, -2.0, -1.5])
PRIOR_SD = np.array([1.0, 0.7, 1.0, 1.0])
NEWTON_STEPS = 50
MAX_STEP = 1.0  # a bounded Newton step on the concave log-likelihood cannot run away
NAME = "conditional-logit"


def offer_features(apr: np.ndarray, amount: np.ndarray, requested: float) -> np.ndarray:
    """[offers, len(NAMES)] for the offers of one application."""
    apr = np.asarray(apr, dtype=float)
    shortfall = np.maximum(0.0, 1.0 - np.asarray(amount, dtype=float) / requested)
    return np.column_stack([np.ones(len(apr)), 10 * apr, shortfall,
                            10 * (apr - apr.min(initial=np.inf) if len(apr) else apr)])


@dataclass(frozen=True)
class TakeupPosterior:
    belief: Gaussian = field(default_factory=lambda: Gaussian(PRIOR_MEAN.copy(),
                                                              np.diag(PRIOR_SD ** 2)))
    choice_sets: int = 0

    def update(self, F: np.ndarray, chosen: np.ndarray, sets: np.ndarray) -> "TakeupPosterior":
        """``F``: one row per offer; ``chosen``: 1 for the accepted offer; ``sets``: the
        choice set (application) index of each row, 0..S-1."""
        if len(chosen) == 0:
            return self
        count = int(sets.max()) + 1
        precision0 = np.linalg.inv(self.belief.cov)
        theta = self.belief.mean.copy()
        for _ in range(NEWTON_STEPS):
            gradient, hessian = _derivatives(theta, F, chosen, sets, count)
            gradient += precision0 @ (theta - self.belief.mean)
            hessian += precision0
            step = np.linalg.solve(hessian, gradient)
            step *= min(1.0, MAX_STEP / max(np.max(np.abs(step)), 1e-300))
            theta -= step
            if np.max(np.abs(step)) < 1e-8:
                break
        _, hessian = _derivatives(theta, F, chosen, sets, count)
        cov = np.linalg.inv(hessian + precision0)
        return TakeupPosterior(Gaussian(theta, (cov + cov.T) / 2), self.choice_sets + count)

    def probabilities(self, F: np.ndarray, sets: np.ndarray) -> np.ndarray:
        """P(each offer is the one accepted)."""
        e = np.exp(F @ self.belief.mean)
        totals = np.bincount(sets, e)
        return e / (1.0 + totals[sets])

    def for_products(self, apr_mid: np.ndarray, amount_max: np.ndarray,
                     requested: float) -> np.ndarray:
        """Take-up if approved, per routable product (see the module docstring)."""
        if len(apr_mid) == 0:
            return np.zeros(0)
        F = offer_features(apr_mid, np.minimum(amount_max, requested), requested)
        return sigmoid(F @ self.belief.mean)

    def to_json(self) -> dict:
        return {"belief": self.belief.to_json(), "choice_sets": self.choice_sets}

    @classmethod
    def from_json(cls, data: dict) -> "TakeupPosterior":
        return cls(Gaussian.from_json(data["belief"]), data["choice_sets"])


def _derivatives(theta, F, chosen, sets, count):
    """Gradient and Hessian of the negative log-likelihood."""
    e = np.exp(F @ theta)
    totals = 1.0 + np.bincount(sets, e, count)
    p = e / totals[sets]
    gradient = F.T @ (p - chosen)
    weighted = F * p[:, None]
    mean = np.zeros((count, F.shape[1]))
    np.add.at(mean, sets, weighted)
    hessian = weighted.T @ F - mean.T @ mean
    return gradient, hessian
