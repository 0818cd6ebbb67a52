"""What routing needs to know about one application, as plain numbers and indexes."""

import math
from dataclasses import dataclass

from matching.catalogue import CHANNEL_INDEX, DAYS_PER, EMPLOYMENT_INDEX, REGION_INDEX
from products.models import TermUnit


@dataclass(frozen=True)
class Applicant:
    age: int
    region: int              # index into catalogue.REGIONS
    monthly_income: float
    employment: int          # index into catalogue.EMPLOYMENTS
    credit_score: float      # nan: no bureau record
    monthly_debt: float
    first_loan: bool
    amount: float
    term_days: float
    channel: int             # index into catalogue.CHANNELS

    @property
    def has_score(self) -> bool:
        return not math.isnan(self.credit_score)

    @property
    def debt_to_income(self) -> float:
        """Existing monthly debt over monthly income (inf when there is debt but no
        income; 0 when there is neither)."""
        if self.monthly_income > 0:
            return self.monthly_debt / self.monthly_income
        return math.inf if self.monthly_debt > 0 else 0.0


def from_body(body: dict) -> Applicant:
    """The validated ``POST /v1/applications`` body → an ``Applicant``."""
    person, loan = body["applicant"], body["request"]
    score = person.get("credit_score")
    return Applicant(
        age=person["age"],
        region=REGION_INDEX[person["region"]],
        monthly_income=float(person["monthly_income"]),
        employment=EMPLOYMENT_INDEX[str(person["employment"])],
        credit_score=math.nan if score is None else float(score),
        monthly_debt=float(person.get("monthly_debt") or 0),
        first_loan=bool(person.get("first_loan", False)),
        amount=float(loan["amount"]),
        term_days=float(loan["term"] * DAYS_PER[TermUnit(loan["term_unit"])]),
        channel=CHANNEL_INDEX[str(body["channel"])],
    )
