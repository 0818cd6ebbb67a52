"""P(bad | funded loan, institution), where bad means ≥ 90 days past due or charged off.

A Bayesian logistic regression over the loan's borrower and price
(``matching.features.repayment_row``), with an intercept per institution on top
(pooled: a new institution starts from the market). Labels: a loan is bad as soon as it
reaches 90 days past due or is charged off, good when paid off; loans still running are
not labels yet. Routing turns it into expected loss per CNY lent,
``LOSS_GIVEN_DEFAULT · P(bad)``.
"""

from dataclasses import dataclass, field

import numpy as np

from learning.bayes import Gaussian, laplace, laplace_intercepts, sigmoid
from matching.features import REPAYMENT_NAMES

BAD_DAYS_PAST_DUE = 90
# intercept, score, no_score, first_loan, dti, income, apr, term_years
PRIOR_MEAN = np.array([-3.0, -0.4, 0.3, 0.2, 0.5, -0.3, 0.1, 0.2])
PRIOR_SD = np.full(len(REPAYMENT_NAMES), 0.5)
INSTITUTION_SD = 0.7
DRIFT_SD = 0.02
NAME = "bayes-logit-repayment"


@dataclass(frozen=True)
class RepaymentPosterior:
    market: Gaussian = field(default_factory=lambda: Gaussian(PRIOR_MEAN.copy(),
                                                              np.diag(PRIOR_SD ** 2)))
    institutions: dict[int, tuple[float, float]] = field(default_factory=dict)
    loans: int = 0

    def update(self, X: np.ndarray, bad: np.ndarray,
               institution_ids: np.ndarray) -> "RepaymentPosterior":
        if len(bad) == 0:
            return self
        y = bad.astype(float)
        market = laplace(self.market, X, y)
        institutions = {i: (m, v + DRIFT_SD ** 2) for i, (m, v) in self.institutions.items()}
        seen, groups = np.unique(institution_ids, return_inverse=True)
        starts = [institutions.get(i, (0.0, INSTITUTION_SD ** 2)) for i in seen.tolist()]
        means, variances = laplace_intercepts(
            np.array([s[0] for s in starts]), np.array([s[1] for s in starts]), groups,
            X @ market.mean, y)
        institutions.update({i: (float(m), float(v)) for i, m, v in zip(
            seen.tolist(), means, variances, strict=True)})
        return RepaymentPosterior(market, institutions, self.loans + len(y))

    def probabilities(self, X: np.ndarray, institution_ids: np.ndarray | None = None
                      ) -> np.ndarray:
        """P(bad) per loan; without ``institution_ids``, the market's view of the same
        borrowers (what a loan's outcome would be at a typical institution)."""
        if institution_ids is None:
            return sigmoid(X @ self.market.mean)
        offsets = np.array([self.institutions.get(i, (0.0, 0.0))[0]
                            for i in np.asarray(institution_ids).tolist()], dtype=float)
        return sigmoid(X @ self.market.mean + offsets)

    def to_json(self) -> dict:
        return {"market": self.market.to_json(),
                "institutions": {str(i): list(mv) for i, mv in self.institutions.items()},
                "loans": self.loans}

    @classmethod
    def from_json(cls, data: dict) -> "RepaymentPosterior":
        return cls(Gaussian.from_json(data["market"]),
                   {int(i): (mv[0], mv[1]) for i, mv in data["institutions"].items()},
                   data["loans"])
