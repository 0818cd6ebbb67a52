"""Scores of the eligible products: what routing one more product adds to the objective.

For product *i* with approval probability ``p``, take-up if approved ``t``, probability
that a funded loan goes bad ``b``, effective weight ``w`` (ops weight × learned
multiplier) and capacity price ``λ`` (``learning/prices.py``):

    reach  = -ln(1 - p)
    value  = PLATFORM_FEE_RATE + APR_BENEFIT_WEIGHT · (APR_CAP - (apr_min + apr_max) / 2)
    loss   = LOSS_GIVEN_DEFAULT · b
    score  = w · (reach + VALUE_WEIGHT · p · t · (value - loss)) - INQUIRY_COST - λ

With independent decisions, P(at least one approval) = 1 - Π(1 - pᵢ) = 1 - exp(-Σ reachᵢ),
so the sum of reaches over the chosen set is exactly what maximises the chance of a
match, and ``p · t · (value - loss)`` is the expected value of routing per CNY lent: the
platform's fee plus how far below the APR cap the borrower pays, less the expected loss,
if the institution approves and the borrower takes it. The capacity price is what one
more routing of a capped product costs the later applicants who would have fitted it
better. The routing objective is the sum of the chosen products' scores; a product whose
score is not positive is not worth a credit inquiry and is never routed.
"""

from dataclasses import dataclass

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue
from matching.predictions import Predictions

MAX_PROBABILITY = 1.0 - 1e-9


@dataclass(frozen=True)
class ScoringSettings:
    apr_cap: float = 0.24
    platform_fee_rate: float = 0.02
    apr_benefit_weight: float = 1.0
    value_weight: float = 1.0
    inquiry_cost: float = 0.0
    loss_given_default: float = 0.6

    @classmethod
    def from_config(cls, config) -> "ScoringSettings":
        return cls(apr_cap=config["APR_CAP"], platform_fee_rate=config["PLATFORM_FEE_RATE"],
                   apr_benefit_weight=config["APR_BENEFIT_WEIGHT"],
                   value_weight=config["VALUE_WEIGHT"], inquiry_cost=config["INQUIRY_COST"],
                   loss_given_default=config["LOSS_GIVEN_DEFAULT"])


@dataclass(frozen=True)
class Scores:
    """Arrays aligned with ``index`` (positions in the compiled catalogue)."""

    index: np.ndarray
    predictions: Predictions
    reach: np.ndarray
    value: np.ndarray
    loss: np.ndarray
    weight: np.ndarray
    price: np.ndarray
    score: np.ndarray
    value_weight: float
    fixed_cost: np.ndarray   # the inquiry cost plus the capacity price

    @property
    def probability(self) -> np.ndarray:
        """The probability selection used (a Thompson sample when the wave explored)."""
        return self.predictions.probability

    def of(self, probability: np.ndarray) -> np.ndarray:
        """The scores these products would have with other approval probabilities and
        everything else the same; ``probability`` may be [M, n]."""
        return _score(self.weight, self.value, self.loss, self.predictions.takeup,
                      self.value_weight, self.fixed_cost, probability)


def _score(weight, value, loss, takeup, value_weight, fixed_cost, probability):
    p = np.minimum(probability, MAX_PROBABILITY)
    return weight * (-np.log1p(-p) + value_weight * p * takeup * (value - loss)) - fixed_cost


def score(catalogue: CompiledCatalogue, applicant: Applicant, index: np.ndarray,
          predictions: Predictions, settings: ScoringSettings,
          price: np.ndarray | None = None) -> Scores:
    apr_mid = (catalogue.apr_min[index] + catalogue.apr_max[index]) / 2
    value = settings.platform_fee_rate + settings.apr_benefit_weight * np.maximum(
        settings.apr_cap - apr_mid, 0.0)
    loss = settings.loss_given_default * predictions.bad
    price = np.zeros(len(index)) if price is None else price
    weight = catalogue.weight[index]
    fixed_cost = settings.inquiry_cost + price
    p = predictions.probability
    return Scores(index=index, predictions=predictions,
                  reach=-np.log1p(-np.minimum(p, MAX_PROBABILITY)), value=value, loss=loss,
                  weight=weight, price=price,
                  score=_score(weight, value, loss, predictions.takeup, settings.value_weight,
                               fixed_cost, p),
                  value_weight=settings.value_weight, fixed_cost=fixed_cost)
