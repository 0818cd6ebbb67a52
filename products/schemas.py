import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import (
    Input,
    ListFilters,
    SortedSet,
    identifier,
    reason_field,
    region_list,
    whole,
)
from products.models import (
    Borrowers,
    Channel,
    Employment,
    ProductStatus,
    ProductType,
    TermUnit,
)

MAX_WEIGHT = 10.0
SCORE_RANGE = (300, 1000)


def fraction(**kwargs) -> fields.Float:
    return fields.Float(validate=validate.Range(0, 1), allow_nan=False, **kwargs)


def choices(enum_type, **kwargs) -> SortedSet:
    """A set of enum values; empty means any."""
    return SortedSet(fields.String(validate=validate.OneOf([m.value for m in enum_type])),
                     **kwargs)


class RulesIn(Input):
    """Hard eligibility rules. Empty lists mean no restriction."""

    age_min = whole(18, 100, load_default=18)
    age_max = whole(18, 100, load_default=65)
    income_min = whole(0, 10**8, load_default=0,
                       metadata={"description": "minimum monthly income, CNY"})
    score_min = whole(*SCORE_RANGE, allow_none=True, load_default=None,
                      metadata={"description": "minimum bureau score; null: no minimum"})
    accepts_no_score = fields.Boolean(load_default=True,
                                      metadata={"description": "applicants with no bureau "
                                                               "record may apply"})
    dti_max = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                           validate=validate.Range(0, 10, min_inclusive=False),
                           metadata={"description": "maximum monthly debt / monthly income"})
    regions = region_list(load_default=list,
                      metadata={"description": "served regions; empty: everywhere the "
                                               "institution is licensed"})
    regions_excluded = region_list(load_default=list)
    employment = choices(Employment, load_default=list)
    channels = choices(Channel, load_default=list)
    borrowers = fields.Enum(Borrowers, by_value=True, load_default=Borrowers.ANY)


class ProductIn(Input):
    institution_id = identifier(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.Enum(ProductType, by_value=True, required=True)
    amount_min = whole(1, 10**8, required=True, metadata={"description": "CNY"})
    amount_max = whole(1, 10**8, required=True, metadata={"description": "CNY"})
    term_min = whole(1, 3650, required=True)
    term_max = whole(1, 3650, required=True)
    term_unit = fields.Enum(TermUnit, by_value=True, required=True)
    apr_min = fraction(required=True)
    apr_max = fraction(required=True, metadata={"description": "at most the APR cap"})
    rules = fields.Nested(RulesIn, load_default=lambda: RulesIn().load({}))
    daily_application_cap = whole(0, 10**9, allow_none=True, load_default=None)
    daily_funding_cap = whole(0, 10**13, allow_none=True, load_default=None,
                              metadata={"description": "CNY per day"})
    weight = fields.Float(validate=validate.Range(0, MAX_WEIGHT), allow_nan=False,
                          load_default=1.0)
    status = fields.Enum(ProductStatus, by_value=True, load_default=ProductStatus.ACTIVE)
    reason = reason_field()


class ProductPatch(ProductIn):
    """Any subset of the fields (load it with ``partial=True``); ``rules`` merges key by key.
    Weight, cap or status changes need a ``reason``."""


class RulesOut(ma.Schema):
    age_min = fields.Integer()
    age_max = fields.Integer()
    income_min = fields.Integer()
    score_min = fields.Integer(allow_none=True)
    accepts_no_score = fields.Boolean()
    dti_max = fields.Float(allow_none=True)
    regions = fields.List(fields.String())
    regions_excluded = fields.List(fields.String())
    employment = fields.List(fields.String())
    channels = fields.List(fields.String())
    borrowers = fields.Enum(Borrowers, by_value=True)


class ProductOut(ma.Schema):
    id = fields.Integer()
    institution_id = fields.Integer()
    name = fields.String()
    type = fields.Enum(ProductType, by_value=True)
    amount_min = fields.Integer()
    amount_max = fields.Integer()
    term_min = fields.Integer()
    term_max = fields.Integer()
    term_unit = fields.Enum(TermUnit, by_value=True)
    apr_min = fields.Float()
    apr_max = fields.Float()
    rules = fields.Nested(RulesOut)
    daily_application_cap = fields.Integer(allow_none=True)
    daily_funding_cap = fields.Integer(allow_none=True)
    weight = fields.Float()
    status = fields.Enum(ProductStatus, by_value=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductFilters(ListFilters):
    status = fields.Enum(ProductStatus, by_value=True)
    type = fields.Enum(ProductType, by_value=True)
    institution_id = identifier(strict=False)
