import orjson
from flask import Response, current_app
from flask.views import MethodView

from core.api import Blueprint, body_hash, principal, require
from core.db import get_session
from core.principal import Role
from feedback.offers import expire_if_due
from matching import service
from matching.schemas import ApplicationIn, ApplicationOut, IdempotencyHeaders, TraceOut

blp = Blueprint("applications", __name__, url_prefix="/v1/applications",
                description="Loan applications: routed in one call to the few products most "
                            "likely to approve them.")

REPLAY_HEADER = {"Idempotent-Replayed": {"description": "true when this is the stored "
                                                        "response of an earlier request",
                                         "schema": {"type": "string"}}}
APPLICATION_ID = "<string(length=26):application_id>"


def routing_context():
    return current_app.extensions["lendmatch.routing"]


def already_json(body: dict, status: int, headers: dict | None = None) -> Response:
    """The routing service builds its answer in ``ApplicationOut``'s shape (the tests
    check it against the schema), so the hot path skips a second serialisation."""
    return Response(orjson.dumps(body), status=status, headers=headers,
                    mimetype="application/json")


@blp.route("")
class Applications(MethodView):
    @require(blp, Role.BORROWER_APP)
    @blp.arguments(IdempotencyHeaders, location="headers")
    @blp.arguments(ApplicationIn)
    @blp.response(201, ApplicationOut, headers=REPLAY_HEADER)
    @blp.alt_response(200, schema=ApplicationOut,
                      description="the applicant already has an open application inside "
                                  "the cool-down: that one, with no new credit inquiries")
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="the Idempotency-Key was used with a different body")
    def post(self, headers, body):
        """Apply: route the application to at most K products now.

        Needs an `Idempotency-Key` header: retrying with the same key and body returns the
        original response without routing again. Nothing is routed without `consent`."""
        response, outcome = service.apply(
            get_session(), principal(), body, request_hash=body_hash(),
            idempotency_key=headers["idempotency_key"], context=routing_context())
        if outcome == service.Outcome.EXISTING:
            return response, 200
        if outcome == service.Outcome.REPLAYED:
            return already_json(response, 201, {"Idempotent-Replayed": "true"})
        return already_json(response, 201)


@blp.route(f"/{APPLICATION_ID}")
class ApplicationById(MethodView):
    @require(blp, Role.BORROWER_APP, Role.OPS)
    @blp.response(200, ApplicationOut)
    @blp.alt_response(404, response="DEFAULT_ERROR",
                      description="no such application, or another key's")
    def get(self, application_id):
        """Read an application: what was routed where, and its status now (the borrower
        app that created it, and ops)."""
        session = get_session()
        application = service.get_visible(session, principal(), application_id)
        expire_if_due(session, application_id, routing_context())
        return service.represent(session, application)


@blp.route(f"/{APPLICATION_ID}/trace")
class ApplicationTrace(MethodView):
    @require(blp, Role.OPS)
    @blp.response(200, TraceOut)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, application_id):
        """The whole routing decision of each wave: catalogue version, every product's
        exclusion reason, the eligible set with probabilities, values, weights and scores,
        the objective and the chosen set (ops)."""
        session = get_session()
        return {"application_id": application_id,
                "waves": service.traces(session, principal(), application_id)}
