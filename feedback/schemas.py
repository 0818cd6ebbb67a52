from datetime import timedelta

import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import Input, whole
from feedback.models import DeliveryStatus, LoanStatus, OfferStatus
from matching.models import RoutingStatus
from matching.schemas import Party
from products.models import TermUnit

# The reasons an institution may give for a decline (documented in the README).
DECLINE_REASONS = (
    "score_too_low", "income_too_low", "debt_too_high", "insufficient_credit_history",
    "identity_not_verified", "fraud_suspected", "outside_risk_appetite",
    "region_not_served", "amount_not_offered", "capacity_reached",
    "duplicate_application", "other",
)
LONGEST_OFFER = timedelta(days=30)
LOAN_EVENT_TYPES = ("instalment_due", "instalment_paid", "past_due", "paid_off",
                    "charged_off")
ULID = validate.Regexp(r"^[0-9a-z]{26}$", error="not an id")
MAX_AMOUNT = 10**10


def _dt(**kwargs):
    return fields.AwareDateTime(**kwargs)


class DecisionIn(Input):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "decline"]))
    amount = whole(1, MAX_AMOUNT, metadata={"description": "CNY offered (approve)"})
    apr = fields.Float(allow_nan=False, validate=validate.Range(0, 1),
                       metadata={"description": "annual rate as a fraction (approve)"})
    term = whole(1, 3650, metadata={"description": "approve"})
    term_unit = fields.Enum(TermUnit, by_value=True, metadata={"description": "approve"})
    offer_expires_at = _dt(metadata={"description": "until when the borrower may accept "
                                                    "(approve; at most 30 days ahead)"})
    reasons = fields.List(fields.String(validate=validate.OneOf(DECLINE_REASONS)),
                          validate=validate.Length(min=1, max=len(DECLINE_REASONS)),
                          metadata={"description": "decline: one or more of "
                                                   + ", ".join(DECLINE_REASONS)})

    @ma.validates_schema
    def fields_fit_the_decision(self, data, **_):
        offer_fields = ("amount", "apr", "term", "term_unit", "offer_expires_at")
        errors = {}
        if data.get("decision") == "approve":
            errors |= {f: ["required to approve"] for f in offer_fields if f not in data}
            if "reasons" in data:
                errors["reasons"] = ["only a decline has reasons"]
        elif data.get("decision") == "decline":
            if "reasons" not in data:
                errors["reasons"] = ["required to decline"]
            errors |= {f: ["only an approval has offer terms"] for f in offer_fields
                       if f in data}
        if "reasons" in data and len(set(data["reasons"])) != len(data["reasons"]):
            errors["reasons"] = ["each reason once"]
        if errors:
            raise ma.ValidationError(errors)


class ApplicantForInstitution(ma.Schema):
    ref = fields.String(metadata={"description": "pseudonymous: the same person routed to "
                                                 "you again has the same ref; other "
                                                 "institutions see another"})
    age = fields.Integer()
    region = fields.String()
    monthly_income = fields.Integer()
    employment = fields.String()
    credit_score = fields.Integer(allow_none=True)
    monthly_debt = fields.Integer()
    first_loan = fields.Boolean()


class RequestForInstitution(ma.Schema):
    amount = fields.Integer()
    term = fields.Integer()
    term_unit = fields.Enum(TermUnit, by_value=True)
    purpose = fields.String()


class DecisionSummary(ma.Schema):
    decision = fields.String(metadata={"enum": ["approve", "decline"]})
    offer_id = fields.String(allow_none=True)
    reasons = fields.List(fields.String(), allow_none=True)
    decided_at = fields.DateTime()


class RoutingForInstitutionOut(ma.Schema):
    id = fields.String()
    status = fields.Enum(RoutingStatus, by_value=True)
    product = fields.Nested(Party)
    created_at = fields.DateTime()
    decide_by = fields.DateTime(metadata={"description": "your SLA: undecided after this, "
                                                         "the routing expires"})
    applicant = fields.Nested(ApplicantForInstitution)
    request = fields.Nested(RequestForInstitution)
    channel = fields.String()
    decision = fields.Nested(DecisionSummary, allow_none=True)


class InboxFilters(Input):
    status = fields.Enum(RoutingStatus, by_value=True)
    after = fields.String(validate=ULID, metadata={"description": "the next_cursor of the "
                                                                   "previous page"})
    limit = fields.Integer(validate=validate.Range(1, 100), load_default=50)


class InboxOut(ma.Schema):
    items = fields.List(fields.Nested(RoutingForInstitutionOut))
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "pass as ?after= for the next page; null on the last page"})


class OfferForInstitutionOut(ma.Schema):
    id = fields.String()
    routing_id = fields.String()
    product_id = fields.Integer()
    status = fields.Enum(OfferStatus, by_value=True)
    amount = fields.Integer()
    apr = fields.Float()
    term = fields.Integer()
    term_unit = fields.Enum(TermUnit, by_value=True)
    instalment = fields.Float()
    total_cost = fields.Float()
    expires_at = fields.DateTime()
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class DecisionOut(ma.Schema):
    routing = fields.Nested(RoutingForInstitutionOut)
    offer = fields.Nested(OfferForInstitutionOut, allow_none=True)


class OfferOut(ma.Schema):
    """An offer as the borrower app sees it."""

    id = fields.String()
    status = fields.Enum(OfferStatus, by_value=True)
    institution = fields.Nested(Party)
    product = fields.Nested(Party)
    amount = fields.Integer()
    apr = fields.Float()
    term = fields.Integer()
    term_unit = fields.Enum(TermUnit, by_value=True)
    instalment = fields.Float(metadata={"description": "monthly payment (month terms) or "
                                                       "the one payment at the end (days)"})
    total_cost = fields.Float(metadata={"description": "total cost of credit: everything "
                                                       "repaid minus the amount"})
    total_repayable = fields.Float()
    expires_at = fields.DateTime()
    created_at = fields.DateTime()


class LoanIn(Input):
    offer_id = fields.String(required=True, validate=ULID)
    amount = whole(1, MAX_AMOUNT, required=True, metadata={"description": "CNY paid out; "
                                                                          "at most the offer's"})
    funded_at = _dt(required=True)


class LoanEventIn(Input):
    type = fields.String(required=True, validate=validate.OneOf(LOAN_EVENT_TYPES))
    at = _dt(required=True)
    amount = whole(1, MAX_AMOUNT, metadata={"description": "CNY (instalment_due, "
                                                           "instalment_paid, charged_off)"})
    instalment = whole(1, 1000, metadata={"description": "which instalment"})
    days_past_due = whole(1, 3650, metadata={"description": "required for past_due"})

    @ma.validates_schema
    def fields_fit_the_type(self, data, **_):
        kind = data.get("type")
        if kind == "past_due" and "days_past_due" not in data:
            raise ma.ValidationError("required for past_due", "days_past_due")
        if kind not in (None, "past_due") and "days_past_due" in data:
            raise ma.ValidationError("only for past_due", "days_past_due")
        if kind in ("past_due", "paid_off") and "amount" in data:
            raise ma.ValidationError(f"not used for {kind}", "amount")


class LoanEventOut(ma.Schema):
    id = fields.Integer()
    loan_id = fields.String()
    type = fields.String()
    at = fields.DateTime()
    recorded_at = fields.DateTime()
    amount = fields.Integer(allow_none=True)
    instalment = fields.Integer(allow_none=True)
    days_past_due = fields.Integer(allow_none=True)


class LoanOut(ma.Schema):
    id = fields.String()
    offer_id = fields.String()
    product_id = fields.Integer()
    status = fields.Enum(LoanStatus, by_value=True)
    amount = fields.Integer()
    apr = fields.Float()
    term = fields.Integer()
    term_unit = fields.Enum(TermUnit, by_value=True)
    funded_at = fields.DateTime()
    days_past_due = fields.Integer()
    max_days_past_due = fields.Integer()
    closed_at = fields.DateTime(allow_none=True)
    events = fields.List(fields.Nested(LoanEventOut))


class AttemptOut(ma.Schema):
    number = fields.Integer()
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Float()


class DeliveryOut(ma.Schema):
    id = fields.String()
    event_type = fields.String()
    object_id = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptOut))


class DeliveryFilters(Input):
    status = fields.Enum(DeliveryStatus, by_value=True)


class EventOut(ma.Schema):
    id = fields.Integer()
    type = fields.String()
    at = fields.DateTime()
    recorded_at = fields.DateTime()
    routing_id = fields.String(allow_none=True)
    offer_id = fields.String(allow_none=True)
    loan_id = fields.String(allow_none=True)
    institution_id = fields.Integer(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    wave = fields.Integer(allow_none=True)
    data = fields.Dict(allow_none=True)
