import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import Input


class WeightVersionOut(ma.Schema):
    version = fields.Integer()
    is_current = fields.Boolean()
    ops_weight = fields.Float()
    locked = fields.Boolean(metadata={"description": "the job leaves a locked weight alone"})
    approval_ratio = fields.Float(metadata={"description": "observed / predicted approvals, "
                                                           "shrunk towards 1"})
    takeup_ratio = fields.Float()
    repayment_ratio = fields.Float()
    multiplier = fields.Float(metadata={"description": "clipped product of the three ratios"})
    effective_weight = fields.Float(metadata={"description": "ops weight × multiplier, as "
                                                             "routing uses it"})
    evidence = fields.Dict()
    reason = fields.String()
    actor = fields.String()
    created_at = fields.DateTime()


class WeightLockIn(Input):
    locked = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class WeightRollbackIn(Input):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    lock = fields.Boolean(load_default=False, metadata={
        "description": "also lock the weight, so the hourly job does not move it again"})


class ModelVersionOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    created_at = fields.DateTime()
    batch_rows = fields.Integer()
    total_rows = fields.Integer()
    summary = fields.Dict()


class ModelRollbackIn(Input):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ModelFilters(Input):
    kind = fields.String(validate=validate.OneOf(["approval", "takeup", "repayment"]))


class PriceSolveOut(ma.Schema):
    id = fields.Integer()
    day = fields.Date()
    solved_at = fields.DateTime()
    summary = fields.Dict()
    prices = fields.Dict()
