"""Scores of the eligible products: what routing one more product adds to the objective.

For product *i* with approval probability ``p`` and ops weight ``w``:

    reach  = -ln(1 - p)
    value  = PLATFORM_FEE_RATE + APR_BENEFIT_WEIGHT · (APR_CAP - (apr_min + apr_max) / 2)
    score  = w · (reach + VALUE_WEIGHT · p · value) - INQUIRY_COST

With independent decisions, P(at least one approval) = 1 - Π(1 - pᵢ) = 1 - exp(-Σ reachᵢ),
so the sum of reaches over the chosen set is exactly what maximises the chance of a
match, and ``p · value`` is the expected value of an approval per CNY lent (the platform's
fee plus how far below the APR cap the borrower is likely to pay). The routing objective
is the sum of the chosen products' scores; a product whose score is not positive is not
worth a credit inquiry and is never routed.
"""

from dataclasses import dataclass

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue

MAX_PROBABILITY = 1.0 - 1e-9


@dataclass(frozen=True)
class ScoringSettings:
    apr_cap: float = 0.24
    platform_fee_rate: float = 0.02
    apr_benefit_weight: float = 1.0
    value_weight: float = 1.0
    inquiry_cost: float = 0.0

    @classmethod
    def from_config(cls, config) -> "ScoringSettings":
        return cls(apr_cap=config["APR_CAP"], platform_fee_rate=config["PLATFORM_FEE_RATE"],
                   apr_benefit_weight=config["APR_BENEFIT_WEIGHT"],
                   value_weight=config["VALUE_WEIGHT"], inquiry_cost=config["INQUIRY_COST"])


@dataclass(frozen=True)
class Scores:
    """Arrays aligned with ``index`` (positions in the compiled catalogue)."""

    index: np.ndarray
    probability: np.ndarray
    reach: np.ndarray
    value: np.ndarray
    weight: np.ndarray
    score: np.ndarray


def score(catalogue: CompiledCatalogue, applicant: Applicant, index: np.ndarray,
          model, settings: ScoringSettings) -> Scores:
    probability = np.asarray(model.probabilities(catalogue, applicant, index), dtype=float)
    reach = -np.log1p(-np.minimum(probability, MAX_PROBABILITY))
    apr_mid = (catalogue.apr_min[index] + catalogue.apr_max[index]) / 2
    value = settings.platform_fee_rate + settings.apr_benefit_weight * np.maximum(
        settings.apr_cap - apr_mid, 0.0)
    weight = catalogue.weight[index]
    total = weight * (reach + settings.value_weight * probability * value)
    return Scores(index=index, probability=probability, reach=reach, value=value,
                  weight=weight, score=total - settings.inquiry_cost)
