"""Ops endpoints of the core: the audit log and API keys."""

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from core import audit, keys
from core.api import Blueprint, principal, require, window
from core.db import get_session
from core.principal import Role
from core.schemas import Input, ListFilters, identifier

audit_blp = Blueprint("audit", __name__, url_prefix="/v1/audit",
                      description="The append-only log of every change.")
keys_blp = Blueprint("keys", __name__, url_prefix="/v1/keys",
                     description="API keys: shown once at creation, revocable.")


class AuditFilters(ListFilters):
    object_type = fields.String(validate=validate.OneOf(
        ["institution", "product", "api_key", "model"]))
    object_id = fields.String(validate=validate.Length(max=40))
    action = fields.String(validate=validate.OneOf(
        ["create", "update", "revoke", "weight_lock", "weight_rollback", "model_rollback",
         "sign_in"]))
    actor = fields.String(validate=validate.Length(max=100))
    since = fields.AwareDateTime(metadata={"description": "entries at or after (ISO 8601)"})
    until = fields.AwareDateTime(metadata={"description": "entries before (ISO 8601)"})

    @ma.validates_schema
    def window_is_forward(self, data, **_):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError("must be after since", "until")


class AuditEntryOut(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    reason = fields.String(allow_none=True)


@audit_blp.route("")
class AuditLog(MethodView):
    @require(audit_blp, Role.OPS)
    @audit_blp.arguments(AuditFilters, location="query")
    @audit_blp.response(200, AuditEntryOut(many=True))
    @audit_blp.paginate()
    def get(self, filters, pagination_parameters):
        """Audit entries, newest first, filtered by object, actor and time."""
        rows, pagination_parameters.item_count = audit.search(
            get_session(), **filters, **window(pagination_parameters))
        return rows


class KeyIn(Input):
    role = fields.Enum(Role, by_value=True, required=True)
    institution_id = identifier(allow_none=True, load_default=None)
    label = fields.String(load_default="", validate=validate.Length(max=200))


class KeyOut(ma.Schema):
    id = fields.Integer()
    role = fields.Enum(Role, by_value=True)
    institution_id = fields.Integer(allow_none=True)
    label = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class NewKeyOut(KeyOut):
    key = fields.String(metadata={"description": "the key itself; shown this once only"})


class KeyFilters(ListFilters):
    role = fields.Enum(Role, by_value=True)
    institution_id = identifier(strict=False)
    revoked = fields.Boolean()


@keys_blp.route("")
class Keys(MethodView):
    @require(keys_blp, Role.OPS)
    @keys_blp.arguments(KeyFilters, location="query")
    @keys_blp.response(200, KeyOut(many=True))
    @keys_blp.paginate()
    def get(self, filters, pagination_parameters):
        """API keys (never the keys themselves)."""
        rows, pagination_parameters.item_count = keys.search(
            get_session(), **filters, **window(pagination_parameters))
        return rows

    @require(keys_blp, Role.OPS)
    @keys_blp.arguments(KeyIn)
    @keys_blp.response(201, NewKeyOut)
    def post(self, data):
        """Create a key. The response holds the key once; only its hash is kept."""
        row, key = keys.create(get_session(), principal(), **data)
        return {"key": key, **{name: getattr(row, name) for name in KeyOut().fields}}


@keys_blp.route("/<int(max=2147483647):key_id>")
class KeyById(MethodView):
    @require(keys_blp, Role.OPS)
    @keys_blp.response(204)
    @keys_blp.alt_response(404, response="DEFAULT_ERROR")
    def delete(self, key_id):
        """Revoke a key; it stops working at once. Revoking twice is harmless."""
        keys.revoke(get_session(), principal(), key_id)

