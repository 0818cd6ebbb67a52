import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import Input, ListFilters, Region, reason_field, region_list, whole
from lenders.models import InstitutionKind, InstitutionStatus

MAX_SLA_SECONDS = 7 * 24 * 3600


class InstitutionIn(Input):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.Enum(InstitutionKind, by_value=True, required=True)
    status = fields.Enum(InstitutionStatus, by_value=True, load_default=InstitutionStatus.ACTIVE)
    licensed_regions = region_list(required=True, validate=validate.Length(min=1))
    decision_sla_seconds = whole(1, MAX_SLA_SECONDS, load_default=300)
    daily_application_cap = whole(0, 10**9, allow_none=True, load_default=None)
    daily_funding_budget = whole(0, 10**13, allow_none=True, load_default=None,
                                 metadata={"description": "CNY per day; null for none"})
    webhook_url = fields.URL(schemes={"http", "https"}, require_tld=False, allow_none=True,
                             load_default=None, validate=validate.Length(max=500))
    webhook_secret = fields.String(allow_none=True, load_default=None, load_only=True,
                                   validate=validate.Length(min=16, max=256),
                                   metadata={"description": "HMAC secret for webhooks; "
                                                            "write-only"})
    reason = reason_field()


class InstitutionPatch(InstitutionIn):
    """Any subset of the fields (load it with ``partial=True``); status, cap or budget
    changes need a ``reason``."""


class InstitutionOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.Enum(InstitutionKind, by_value=True)
    status = fields.Enum(InstitutionStatus, by_value=True)
    licensed_regions = fields.List(fields.String())
    decision_sla_seconds = fields.Integer()
    daily_application_cap = fields.Integer(allow_none=True)
    daily_funding_budget = fields.Integer(allow_none=True)
    webhook_url = fields.String(allow_none=True)
    has_webhook_secret = fields.Function(lambda i: i.webhook_secret is not None)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class InstitutionFilters(ListFilters):
    status = fields.Enum(InstitutionStatus, by_value=True)
    kind = fields.Enum(InstitutionKind, by_value=True)
    region = Region(metadata={"description": "licensed in this region"})
