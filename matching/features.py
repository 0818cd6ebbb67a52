"""What the approval models see of one applicant against each product: a feature matrix,
one row per product, computed with numpy over the compiled catalogue.

Every *headroom* is in [0, 1] (0: on the rule's boundary, 1: far inside it):

========== ==============================================================================
income     (income - income_min) / max(income_min, 3000)
debt       1 - DTI / dti_max                 (dti_max 0.6 when the product sets none)
score      (score - score_min) / 150         (score_min 550 when the product sets none;
                                              0 without a bureau score)
amount     1 - (amount - amount_min) / (amount_max - amount_min)   (small asks are easier)
age        distance to the nearer age bound / 10
========== ==============================================================================

plus an intercept, ``no_score`` (1 without a bureau score) and ``first_loan``. The same
rows are stored with each routing, so a model is trained on exactly what routing saw.
"""

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue

NAMES = ("intercept", "income", "debt", "score", "amount", "age", "no_score", "first_loan")
INCOME_SCALE_FLOOR = 3000.0
DEFAULT_DTI_MAX = 0.6
DEFAULT_SCORE_MIN = 550.0
SCORE_SCALE = 150.0
AGE_SCALE = 10.0


def approval(catalogue: CompiledCatalogue, applicant: Applicant,
             index: np.ndarray) -> np.ndarray:
    """[len(index), len(NAMES)]"""
    c, a = catalogue, applicant
    n = len(index)
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
        score = np.zeros(n)
    span = c.amount_max[index] - c.amount_min[index]
    amount = np.where(span > 0, 1.0 - (a.amount - c.amount_min[index])
                      / np.where(span > 0, span, 1.0), 1.0)
    age = np.minimum(a.age - c.age_min[index], c.age_max[index] - a.age) / AGE_SCALE
    X = np.empty((n, len(NAMES)))
    X[:, 0] = 1.0
    X[:, 1] = np.clip(income, 0, 1)
    X[:, 2] = np.clip(debt, 0, 1)
    X[:, 3] = np.clip(score, 0, 1)
    X[:, 4] = np.clip(amount, 0, 1)
    X[:, 5] = np.clip(age, 0, 1)
    X[:, 6] = 0.0 if a.has_score else 1.0
    X[:, 7] = 1.0 if a.first_loan else 0.0
    return X


REPAYMENT_NAMES = ("intercept", "score", "no_score", "first_loan", "dti", "income", "apr",
                   "term_years")


def repayment_row(applicant: Applicant, apr: np.ndarray | float) -> np.ndarray:
    """What the repayment model sees of a loan: the borrower and its price. ``apr`` may
    be one value per product (routing) or one value (a funded loan)."""
    apr = np.atleast_1d(np.asarray(apr, dtype=float))
    a = applicant
    X = np.empty((len(apr), len(REPAYMENT_NAMES)))
    X[:, 0] = 1.0
    X[:, 1] = np.clip((a.credit_score - 600.0) / 100.0, -3, 3) if a.has_score else 0.0
    X[:, 2] = 0.0 if a.has_score else 1.0
    X[:, 3] = 1.0 if a.first_loan else 0.0
    X[:, 4] = min(a.debt_to_income, 2.0)
    X[:, 5] = np.log(max(a.monthly_income, 500.0) / 5000.0)
    X[:, 6] = apr * 10.0
    X[:, 7] = a.term_days / 365.0
    return X
