"""Schema pieces shared by every package's API."""

import marshmallow as ma
from marshmallow import fields, validate

from core.regions import CODES


class Region(fields.String):
    """An ISO 3166-2:CN code such as ``CN-SH``."""

    default_error_messages = {
        "unknown_region": "unknown region {input!r}: use an ISO 3166-2:CN code such as CN-SH"
    }

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs)
        if code not in CODES:
            raise self.make_error("unknown_region", input=code)
        return code


def region_list(**kwargs) -> fields.List:
    """A list of regions, deduplicated and sorted so equal sets compare equal."""
    return RegionList(Region(), **kwargs)


class RegionList(fields.List):
    def _deserialize(self, value, attr, data, **kwargs):
        return sorted(set(super()._deserialize(value, attr, data, **kwargs)))


def reason_field() -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why the change is made; kept in the audit log. Required "
                                 "when weight, caps, budget or status change."},
    )


def whole(minimum: int, maximum: int, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


class ListFilters(ma.Schema):
    class Meta:
        unknown = ma.RAISE
