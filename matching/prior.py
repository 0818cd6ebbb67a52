"""The approval prior: P(institution approves) before anything has been learned.

An institution's hard rules are a floor; applicants who only just clear them are the ones
its own scorecard turns down most. So the prior grows with how deep inside each rule the
applicant sits. Every *headroom* below is in [0, 1] (0: on the boundary, 1: far inside):

========== ==============================================================================
income     (income - income_min) / max(income_min, 3000)
debt       1 - DTI / dti_max                 (dti_max 0.6 when the product sets none)
score      (score - score_min) / 150         (score_min 550 when the product sets none;
                                              0 and the ``NO_SCORE`` term without a score)
amount     1 - (amount - amount_min) / (amount_max - amount_min)   (small asks are easier)
age        distance to the nearer age bound / 10
========== ==============================================================================

    logit(p) = -2.0 + 1.0·income + 1.0·debt + 1.2·score + 0.6·amount + 0.3·age
               - 0.4·[no bureau score] - 0.2·[first loan]

clipped to [0.01, 0.95]. An applicant on every boundary gets about 12%, one far inside
every rule about 89%. The learning issue replaces this with a model fitted on decisions;
anything with the same ``probabilities`` method can stand in for it.
"""

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue

INTERCEPT = -2.0
COEFFICIENTS = {"income": 1.0, "debt": 1.0, "score": 1.2, "amount": 0.6, "age": 0.3}
NO_SCORE = -0.4
FIRST_LOAN = -0.2
INCOME_SCALE_FLOOR = 3000.0
DEFAULT_DTI_MAX = 0.6
DEFAULT_SCORE_MIN = 550.0
SCORE_SCALE = 150.0
AGE_SCALE = 10.0
FLOOR, CEILING = 0.01, 0.95


class RulesDepthPrior:
    """The documented prior; ``name`` is recorded in every trace."""

    name = "rules-depth-prior-v1"

    def probabilities(self, catalogue: CompiledCatalogue, applicant: Applicant,
                      index: np.ndarray) -> np.ndarray:
        c, a = catalogue, applicant
        income_min = c.income_min[index]
        income = (a.monthly_income - income_min) / np.maximum(income_min, INCOME_SCALE_FLOOR)
        dti_max = c.dti_max[index]
        dti_max = np.where(np.isfinite(dti_max), dti_max, DEFAULT_DTI_MAX)
        debt = 1.0 - min(a.debt_to_income, 1e6) / dti_max
        if a.has_score:
            score_min = c.score_min[index]
            floor = np.where(np.isnan(score_min), DEFAULT_SCORE_MIN, score_min)
            score = (a.credit_score - floor) / SCORE_SCALE
        else:
            score = np.zeros(len(index))
        span = c.amount_max[index] - c.amount_min[index]
        amount = np.where(span > 0, 1.0 - (a.amount - c.amount_min[index])
                          / np.where(span > 0, span, 1.0), 1.0)
        age = np.minimum(a.age - c.age_min[index], c.age_max[index] - a.age) / AGE_SCALE
        logit = (INTERCEPT
                 + COEFFICIENTS["income"] * np.clip(income, 0, 1)
                 + COEFFICIENTS["debt"] * np.clip(debt, 0, 1)
                 + COEFFICIENTS["score"] * np.clip(score, 0, 1)
                 + COEFFICIENTS["amount"] * np.clip(amount, 0, 1)
                 + COEFFICIENTS["age"] * np.clip(age, 0, 1)
                 + (0.0 if a.has_score else NO_SCORE)
                 + (FIRST_LOAN if a.first_loan else 0.0))
        return np.clip(1.0 / (1.0 + np.exp(-logit)), FLOOR, CEILING)
