"""What scoring needs from the models, per eligible product, and the protocol a model
follows to give it.

A model has a ``name`` and ``predict(catalogue, applicant, index, explore, rng)`` that
returns ``Predictions``. ``RulesOnly`` wraps the rules-depth prior (no take-up or loss
terms): the engine without learning. ``learning.predictor.LearnedPredictor`` is the
engine with it.
"""

from dataclasses import dataclass

import numpy as np

from matching import features
from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue
from matching.prior import CEILING, COEFFICIENTS, FLOOR, RulesDepthPrior


@dataclass(frozen=True)
class Predictions:
    mean: np.ndarray          # P(approve), the posterior mean (what borrowers are told)
    greedy: np.ndarray        # what selection uses when not exploring
    probability: np.ndarray   # what selection used: ``greedy``, or a Thompson sample
    takeup: np.ndarray        # P(borrower takes the offer | approved)
    bad: np.ndarray           # P(the loan goes bad | funded)
    draws: np.ndarray | None = None  # [M, n] samples, to estimate propensities
    explored: bool = False
    features: np.ndarray | None = None  # [n, d], stored with each routing for learning


class RulesOnly:
    name = RulesDepthPrior.name

    def predict(self, catalogue: CompiledCatalogue, applicant: Applicant, index: np.ndarray,
                explore: bool, rng: np.random.Generator, draws: int = 0) -> Predictions:
        X = features.approval(catalogue, applicant, index)
        p = np.clip(1.0 / (1.0 + np.exp(-(X @ COEFFICIENTS))), FLOOR, CEILING)
        return Predictions(mean=p, greedy=p, probability=p, takeup=np.ones(len(index)),
                           bad=np.zeros(len(index)),
                           draws=np.tile(p, (draws, 1)) if draws else None, features=X)
