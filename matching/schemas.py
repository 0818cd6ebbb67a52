from datetime import timedelta

import marshmallow as ma
from marshmallow import fields, validate

from core.db import utcnow
from core.schemas import Input, Region, whole
from matching.models import ApplicationStatus, Purpose, RoutingStatus
from products.models import Channel, Employment, TermUnit
from products.schemas import SCORE_RANGE
from products.service import MAX_TERM

MAX_SIGNALS = 50
CLOCK_SKEW = timedelta(minutes=5)


class ApplicantIn(Input):
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=100),
                                metadata={"description": "the borrower app's own id of the "
                                                         "person; the cool-down is keyed on it"})
    age = whole(18, 100, required=True)
    region = Region(required=True, metadata={"description": "ISO 3166-2:CN, e.g. CN-SH"})
    monthly_income = whole(0, 10**8, required=True, metadata={"description": "CNY"})
    employment = fields.Enum(Employment, by_value=True, required=True)
    credit_score = whole(*SCORE_RANGE, allow_none=True, load_default=None,
                         metadata={"description": "bureau score; null: no bureau record "
                                                  "(most applicants)"})
    monthly_debt = whole(0, 10**8, load_default=0, metadata={"description": "CNY"})
    first_loan = fields.Boolean(load_default=False)
    signals = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Float(allow_nan=False),
        load_default=dict, validate=validate.Length(max=MAX_SIGNALS),
        metadata={"description": "weak data: a flat map of numbers, e.g. device_age_days"})


class LoanRequestIn(Input):
    amount = whole(100, 10**8, required=True, metadata={"description": "CNY"})
    term = whole(1, 3650, required=True)
    term_unit = fields.Enum(TermUnit, by_value=True, required=True)
    purpose = fields.Enum(Purpose, by_value=True, required=True)

    @ma.validates_schema
    def term_fits_unit(self, data, **_):
        longest = MAX_TERM.get(data.get("term_unit"))
        if longest is not None and data.get("term", 0) > longest:
            raise ma.ValidationError(f"at most {longest} {data['term_unit']}s", "term")


class ConsentIn(Input):
    version = fields.String(required=True, validate=validate.Length(min=1, max=40),
                            metadata={"description": "the consent text the applicant agreed to"})
    given_at = fields.AwareDateTime(required=True)

    @ma.validates("given_at")
    def not_in_the_future(self, value, **_):
        if value > utcnow() + CLOCK_SKEW:
            raise ma.ValidationError("is in the future")


class ApplicationIn(Input):
    applicant = fields.Nested(ApplicantIn, required=True)
    request = fields.Nested(LoanRequestIn, required=True)
    channel = fields.Enum(Channel, by_value=True, required=True)
    consent = fields.Nested(
        ConsentIn, required=True,
        error_messages={"required": "the applicant's consent is required; nothing is routed "
                                    "without it",
                        "null": "the applicant's consent is required; nothing is routed "
                                "without it"},
        metadata={"description": "the applicant's consent to share the application with "
                                 "the institutions it is routed to"})


class IdempotencyHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key", required=True,
        validate=[validate.Length(min=1, max=255),
                  validate.Regexp(r"^[\x21-\x7e]+$", error="must be printable ASCII "
                                                           "without spaces")],
        metadata={"description": "your unique id for this request: a retry with the same "
                                 "key and body returns the original response"})


class Party(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class ProductRef(Party):
    type = fields.String()


class TermsOut(ma.Schema):
    amount_min = fields.Integer()
    amount_max = fields.Integer()
    term_min = fields.Integer()
    term_max = fields.Integer()
    term_unit = fields.String()
    apr_min = fields.Float()
    apr_max = fields.Float()


class RoutedOut(ma.Schema):
    routing_id = fields.String()
    rank = fields.Integer()
    wave = fields.Integer()
    status = fields.String(metadata={"enum": [s.value for s in RoutingStatus]})
    decline_reasons = fields.List(fields.String(), allow_none=True,
                                  metadata={"description": "the institution's reason codes, "
                                                           "once it declined"})
    institution = fields.Nested(Party)
    product = fields.Nested(ProductRef)
    approval_odds = fields.String(metadata={"enum": ["high", "medium", "low"],
                                            "description": "high: ≥ 50%, medium: ≥ 20%"})
    terms = fields.Nested(TermsOut, metadata={"description": "what the product can offer"})


class LoanRequestOut(ma.Schema):
    amount = fields.Integer()
    term = fields.Integer()
    term_unit = fields.String()
    purpose = fields.String()


class ApplicationOut(ma.Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in ApplicationStatus]})
    wave = fields.Integer(metadata={"description": "the routing wave now out (a wave whose "
                                                   "institutions all decline or let it "
                                                   "expire is followed by the next)"})
    end_reason = fields.String(allow_none=True, metadata={
        "enum": ["no_eligible_product", "waves_exhausted", "offers_expired", None],
        "description": "why a no_match or expired application ended"})
    external_id = fields.String()
    created_at = fields.String(metadata={"format": "date-time"})
    request = fields.Nested(LoanRequestOut)
    channel = fields.String()
    routed = fields.List(fields.Nested(RoutedOut), metadata={"description": "best first"})
    not_routed = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "products not routed, counted by "
                                                      "reason"})
    products_considered = fields.Integer()


class TraceOut(ma.Schema):
    application_id = fields.String()
    waves = fields.List(fields.Dict(), metadata={"description": "one decision per wave"})
