"""Simulated borrowers and institutions with hidden policies.

A borrower has a latent risk ``r`` ~ N(0, 1) that no institution sees directly. What
lendmatch and institutions see is correlated with it: a bureau score (only for
``SCORED_SHARE`` of borrowers; most are thin-file), income and existing debt. Each
institution approves with probability

    sigmoid(base + score_weight·(score − 650)/100 + income_weight·ln(income / 6000)
            − dti_weight·DTI − thin_file_penalty·[no score] + noise)

so different institutions prefer different borrowers, and ``declines_all`` /
``approves_all`` switch a policy mid-run (a drifting institution).
"""

import math
from dataclasses import dataclass, field

import numpy as np

REGIONS = ("CN-SH", "CN-BJ", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC")
SCORED_SHARE = 0.3


@dataclass
class Borrower:
    external_id: str
    age: int
    region: str
    monthly_income: int
    monthly_debt: int
    credit_score: int | None
    first_loan: bool
    amount: int
    term: int
    risk: float

    def body(self, now_iso: str, channel: str = "app") -> dict:
        return {
            "applicant": {"external_id": self.external_id, "age": self.age,
                          "region": self.region, "monthly_income": self.monthly_income,
                          "employment": "salaried", "credit_score": self.credit_score,
                          "monthly_debt": self.monthly_debt, "first_loan": self.first_loan,
                          "signals": {}},
            "request": {"amount": self.amount, "term": self.term, "term_unit": "month",
                        "purpose": "consumption"},
            "channel": channel,
            "consent": {"version": "sim-1", "given_at": now_iso},
        }


def borrower(rng: np.random.Generator, number: int) -> Borrower:
    risk = float(rng.standard_normal())
    income = int(np.clip(np.exp(rng.normal(math.log(7000), 0.45) - 0.25 * risk), 2500, 60000))
    debt = int(np.clip(income * rng.beta(2, 6) * (1 + 0.3 * max(risk, 0)), 0, income))
    scored = rng.random() < SCORED_SHARE
    score = int(np.clip(680 - 60 * risk + rng.normal(0, 25), 450, 850)) if scored else None
    return Borrower(
        external_id=f"sim-{number}", age=int(rng.integers(22, 55)),
        region=REGIONS[int(rng.integers(len(REGIONS)))], monthly_income=income,
        monthly_debt=debt, credit_score=score, first_loan=bool(rng.random() < 0.6),
        amount=int(rng.choice([2000, 3000, 5000, 8000, 10000, 20000])),
        term=int(rng.choice([3, 6, 12, 24])), risk=risk)


@dataclass
class Policy:
    """An institution's hidden approval policy (see the module docstring)."""

    base: float = 0.0
    score_weight: float = 1.0
    income_weight: float = 1.0
    dti_weight: float = 2.0
    thin_file_penalty: float = 0.5
    risk_weight: float = 0.8        # what its own data tells it about the latent risk
    noise: float = 0.3
    declines_all: bool = False
    approves_all: bool = False
    apr: float = 0.18

    def probability(self, b: Borrower, rng: np.random.Generator) -> float:
        if self.declines_all:
            return 0.0
        if self.approves_all:
            return 1.0
        dti = b.monthly_debt / max(b.monthly_income, 1)
        logit = (self.base + self.income_weight * math.log(b.monthly_income / 6000)
                 - self.dti_weight * dti - self.risk_weight * b.risk
                 + rng.normal(0, self.noise))
        if b.credit_score is None:
            logit -= self.thin_file_penalty
        else:
            logit += self.score_weight * (b.credit_score - 650) / 100
        return 1.0 / (1.0 + math.exp(-logit))


@dataclass
class Lender:
    institution_id: int
    product_ids: list[int]
    principal: object
    policy: Policy
    product_policies: dict[int, Policy] = field(default_factory=dict)

    def policy_for(self, product_id: int) -> Policy:
        return self.product_policies.get(product_id, self.policy)
