"""Schema pieces shared by every package's API."""

from collections.abc import Mapping

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


class SortedSet(fields.List):
    """A list kept as a set: deduplicated and sorted, so equal sets compare equal."""

    def _deserialize(self, value, attr, data, **kwargs):
        return sorted(set(super()._deserialize(value, attr, data, **kwargs)))


def region_list(**kwargs) -> SortedSet:
    return SortedSet(Region(), **kwargs)


def reason_field() -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why the change is made; kept in the audit log. Required "
                                 "when weight, caps, budget or status change."},
    )


def whole(minimum: int, maximum: int, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


MAX_ID = 2**31 - 1


def identifier(*, strict: bool = True, **kwargs) -> fields.Integer:
    """An object id: a positive 32-bit integer (larger ones cannot exist). Query strings
    need ``strict=False``: their numbers arrive as text."""
    return fields.Integer(strict=strict, validate=validate.Range(1, MAX_ID), **kwargs)


class Input(ma.Schema):
    """Base of every input schema: unknown fields are errors, and so are NUL characters,
    which PostgreSQL cannot store in text."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_nul_characters(self, data, **_):
        if isinstance(data, Mapping):
            bad = {name: ["must not contain NUL characters"]
                   for name, value in data.items() if _holds_nul(name) or _holds_nul(value)}
            if bad:
                raise ma.ValidationError(bad)
        return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


class ListFilters(Input):
    pass
