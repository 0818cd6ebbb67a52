from flask import current_app
from flask.views import MethodView
from sqlalchemy import select

from core.api import Blueprint, principal, require
from core.db import get_session
from core.errors import NotFound
from core.principal import Role
from learning import store, weights
from learning.models import LearnedModel
from learning.schemas import (
    ModelFilters,
    ModelRollbackIn,
    ModelVersionOut,
    PriceSolveOut,
    WeightLockIn,
    WeightRollbackIn,
    WeightVersionOut,
)

blp = Blueprint("learning", __name__, url_prefix="/v1",
                description="What routing learned: weight versions, models, capacity prices.")


def _now():
    return current_app.extensions["lendmatch.routing"].clock()


@blp.route("/products/<int(max=2147483647):product_id>/weights")
class ProductWeights(MethodView):
    @require(blp, Role.OPS)
    @blp.response(200, WeightVersionOut(many=True))
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, product_id):
        """Every version of the product's learned weight, newest first: the ratios behind
        it, what changed and why, and who changed it."""
        return weights.history(get_session(), product_id)

    @require(blp, Role.OPS)
    @blp.arguments(WeightLockIn)
    @blp.response(201, WeightVersionOut)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def post(self, data, product_id):
        """Lock (or unlock) the learned multiplier: a locked weight keeps its current
        multiplier until unlocked. Writes a version and an audit entry."""
        return weights.change(get_session(), principal(), product_id, reason=data["reason"],
                              locked=data["locked"], now=_now())


@blp.route("/products/<int(max=2147483647):product_id>/weights/rollback")
class ProductWeightRollback(MethodView):
    @require(blp, Role.OPS)
    @blp.arguments(WeightRollbackIn)
    @blp.response(201, WeightVersionOut)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def post(self, data, product_id):
        """Go back to an earlier version's multiplier, as a new version."""
        return weights.change(get_session(), principal(), product_id, reason=data["reason"],
                              rollback_to=data["version"],
                              locked=True if data["lock"] else None, now=_now())


@blp.route("/models")
class Models(MethodView):
    @require(blp, Role.OPS)
    @blp.arguments(ModelFilters, location="query")
    @blp.response(200, ModelVersionOut(many=True))
    def get(self, filters):
        """The latest 50 model versions, newest first."""
        query = select(LearnedModel).order_by(LearnedModel.id.desc()).limit(50)
        if filters.get("kind"):
            query = query.where(LearnedModel.kind == filters["kind"])
        return list(get_session().scalars(query))


@blp.route("/models/<int(max=2147483647):model_id>/rollback")
class ModelRollback(MethodView):
    @require(blp, Role.OPS)
    @blp.arguments(ModelRollbackIn)
    @blp.response(201, ModelVersionOut)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def post(self, data, model_id):
        """Make an earlier model version current again: it is saved anew as the newest
        version of its kind (routing picks it up within the refresh interval), and the
        audit log records who did it and why."""
        return store.rollback(get_session(), principal(), model_id, reason=data["reason"],
                              now=_now())


@blp.route("/capacity-prices")
class CapacityPrices(MethodView):
    @require(blp, Role.OPS)
    @blp.response(200, PriceSolveOut)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self):
        """The latest capacity price solve: per capped product and institution, its
        shadow price, cap, use and planned use for the rest of the day."""
        solve = store.latest_solve(get_session())
        if solve is None:
            raise NotFound("no capacity prices have been computed yet")
        return solve
