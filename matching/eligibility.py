"""Hard eligibility: every rule of every product at once, as boolean arrays.

Each product left out gets one reason: the first rule it fails, in the order of
``REASONS``. The last three codes are set by the router: capacity (it needs today's
counters), and institutions an earlier wave of the same application already tried.
"""

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue

REASONS = (
    "institution_paused",
    "product_paused",
    "zero_weight",
    "channel_not_served",
    "region_not_served",
    "amount_below_min",
    "amount_above_max",
    "term_out_of_range",
    "age_out_of_range",
    "income_below_min",
    "employment_not_accepted",
    "borrower_type_not_accepted",
    "no_score_not_accepted",
    "score_below_min",
    "dti_above_max",
    "cap_exhausted",
    "institution_cap_exhausted",
    "institution_already_tried",
)
REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}
ELIGIBLE = -1
CAP_EXHAUSTED = REASON_CODE["cap_exhausted"]
INSTITUTION_CAP_EXHAUSTED = REASON_CODE["institution_cap_exhausted"]
ALREADY_TRIED = REASON_CODE["institution_already_tried"]


def rule_failures(catalogue: CompiledCatalogue, applicant: Applicant) -> np.ndarray:
    """``[len(REASONS) - 3, P]`` booleans: which rule each product fails."""
    a, c = applicant, catalogue
    if a.has_score:
        no_score = np.zeros(c.size, dtype=bool)
        # nan >= x is False, so "no minimum" never fails.
        score_low = c.score_min > a.credit_score
    else:
        no_score = ~c.accepts_no_score
        score_low = np.zeros(c.size, dtype=bool)
    return np.stack([
        c.institution_paused,
        c.product_paused,
        c.weight <= 0,
        ~c.serves_channel[:, a.channel],
        ~c.serves_region[:, a.region],
        c.amount_min > a.amount,
        c.amount_max < a.amount,
        (c.term_min_days > a.term_days) | (c.term_max_days < a.term_days),
        (c.age_min > a.age) | (c.age_max < a.age),
        c.income_min > a.monthly_income,
        ~c.accepts_employment[:, a.employment],
        ~(c.accepts_first_loan if a.first_loan else c.accepts_repeat),
        no_score,
        score_low,
        c.dti_max < a.debt_to_income,
    ])


def reasons(catalogue: CompiledCatalogue, applicant: Applicant) -> np.ndarray:
    """Per product: ``ELIGIBLE`` (-1) or the code of the first rule it fails."""
    failures = rule_failures(catalogue, applicant)
    first = np.argmax(failures, axis=0)
    return np.where(failures.any(axis=0), first, ELIGIBLE)
