"""The total cost of credit of an offer: what the borrower repays beyond the amount.

- Terms in months: a fully amortising loan, equal monthly instalments at the monthly rate
  ``apr / 12``: ``instalment = P·r / (1 - (1 + r)^-n)``, total cost ``n·instalment - P``.
- Terms in days: simple interest paid once at the end: ``P·apr·days / 365``.

Offers are shown to borrowers cheapest first by this figure.
"""

from products.models import TermUnit


def of_offer(offer) -> tuple[float, float]:
    return cost_of_credit(offer.amount, offer.apr, offer.term, offer.term_unit)


def cost_of_credit(amount: float, apr: float, term: int, term_unit) -> tuple[float, float]:
    """``(instalment, total_cost)``, both rounded to the fen."""
    if TermUnit(term_unit) == TermUnit.DAY:
        interest = amount * apr * term / 365
        return round(amount + interest, 2), round(interest, 2)
    rate = apr / 12
    instalment = amount / term if rate == 0 else amount * rate / (1 - (1 + rate) ** -term)
    return round(instalment, 2), round(instalment * term - amount, 2)
