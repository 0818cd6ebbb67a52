"""The approval prior: P(institution approves) before anything has been learned.

An institution's hard rules are a floor; applicants who only just clear them are the ones
its own scorecard turns down most. So the prior grows with how deep inside each rule the
applicant sits, measured by the headrooms of ``matching/features.py``:

    logit(p) = -2.0 + 1.0·income + 1.0·debt + 1.2·score + 0.6·amount + 0.3·age
               - 0.4·[no bureau score] - 0.2·[first loan]

clipped to [0.01, 0.95]. An applicant on every boundary gets about 12%, one far inside
every rule about 89%. It is where the learned approval model (``learning/approval.py``)
starts before any decision, and the "engine without learning" baseline.
"""

import numpy as np

from matching import features
from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue

# Over features.NAMES: intercept, income, debt, score, amount, age, no_score, first_loan.
COEFFICIENTS = np.array([-2.0, 1.0, 1.0, 1.2, 0.6, 0.3, -0.4, -0.2])
FLOOR, CEILING = 0.01, 0.95


class RulesDepthPrior:
    """The documented prior; ``name`` is recorded in every trace."""

    name = "rules-depth-prior-v1"

    def probabilities(self, catalogue: CompiledCatalogue, applicant: Applicant,
                      index: np.ndarray) -> np.ndarray:
        logit = features.approval(catalogue, applicant, index) @ COEFFICIENTS
        return np.clip(1.0 / (1.0 + np.exp(-logit)), FLOOR, CEILING)
