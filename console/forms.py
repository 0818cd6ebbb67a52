"""Form fields to the API's input: HTML forms send text, the API's schemas want numbers
and nulls, so values are coerced first and then loaded through the very schema the API
uses. Errors come back as ``InvalidInput`` naming the field."""

import marshmallow as ma

from core.errors import InvalidInput

NONE_IF_EMPTY = {"daily_application_cap", "daily_funding_cap", "daily_funding_budget"}
INTEGERS = NONE_IF_EMPTY | {"decision_sla_seconds"}
FLOATS = {"weight"}


def coerce(name: str, raw: str):
    """Text from a form field to the JSON value it stands for; unparsable text stays text
    so that the schema reports it."""
    text = raw.strip()
    if name in NONE_IF_EMPTY and text == "":
        return None
    try:
        if name in INTEGERS:
            return int(text.replace(",", "").replace("_", ""))
        if name in FLOATS:
            return float(text)
    except ValueError:
        return text
    return text


def changes(form, fields: tuple[str, ...], schema: ma.Schema, current) -> dict:
    """The fields whose submitted value differs from ``current``'s, validated."""
    submitted = {name: coerce(name, form[name]) for name in fields if name in form}
    try:
        loaded = schema.load(submitted)
    except ma.ValidationError as error:
        raise InvalidInput(error.messages, location="form") from None
    return {name: value for name, value in loaded.items() if getattr(current, name) != value}


def version(form) -> int:
    raw = form.get("version", "")
    if not raw.isdigit():
        raise InvalidInput({"version": ["missing; reload the page"]}, location="form")
    return int(raw)


def messages(errors: dict | None, prefix: str = "") -> list[str]:
    """``{"form": {"weight": ["..."]}}`` → ``["weight: ..."]``."""
    lines = []
    for key, value in (errors or {}).items():
        name = key if key in ("form", "json") and not prefix else f"{prefix}{key}"
        if isinstance(value, dict):
            lines += messages(value, "" if key in ("form", "json") else f"{name}.")
        else:
            lines += [f"{name}: {m}" for m in (value if isinstance(value, list) else [value])]
    return lines
