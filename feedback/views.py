from flask import current_app
from flask.views import MethodView

from core.api import Blueprint, body_hash, principal, require, window
from core.db import get_session
from core.principal import Role
from feedback import decisions, disclosure, events, inbox, loans, offers
from feedback.schemas import (
    DecisionIn,
    DecisionOut,
    DeliveryFilters,
    DeliveryOut,
    EventOut,
    InboxFilters,
    InboxOut,
    LoanEventIn,
    LoanEventOut,
    LoanIn,
    LoanOut,
    OfferForInstitutionOut,
    OfferOut,
    RoutingForInstitutionOut,
)
from matching.service import get_visible as visible_application

institution_blp = Blueprint(
    "institution", __name__, url_prefix="/v1/institution",
    description="For partner institutions (an institution key): the routings sent to you, "
                "your decisions, and the loans you fund. You see only your own; anything "
                "else is 404.")
offers_blp = Blueprint("offers", __name__, url_prefix="/v1/applications",
                       description="Offers on an application, and taking one.")
deliveries_blp = Blueprint("webhook_deliveries", __name__, url_prefix="/v1/institutions",
                           description="The log of signed webhooks sent to an institution.")

ID = "<string(length=26):{}>"
CONFLICT = "a transition the object's state does not allow; errors.conflict names the state"


def routing_context():
    return current_app.extensions["lendmatch.routing"]


@institution_blp.route("/routings")
class Inbox(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.arguments(InboxFilters, location="query")
    @institution_blp.response(200, InboxOut)
    def get(self, filters):
        """Your routings, oldest first, e.g. `?status=pending`; page on with
        `?after=<next_cursor>`. Reading them here counts as delivery."""
        items, cursor = inbox.inbox(get_session(), principal(), status=filters.get("status"),
                                    after=filters.get("after"), limit=filters["limit"],
                                    context=routing_context())
        return {"items": items, "next_cursor": cursor}


@institution_blp.route(f"/routings/{ID.format('routing_id')}")
class RoutingById(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.response(200, RoutingForInstitutionOut)
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, routing_id):
        """One of your routings."""
        return disclosure.routing_for(get_session(), principal(), routing_id)


@institution_blp.route(f"/routings/{ID.format('routing_id')}/decision")
class Decision(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.arguments(DecisionIn)
    @institution_blp.response(201, DecisionOut)
    @institution_blp.alt_response(200, schema=DecisionOut,
                                  description="the same decision was already recorded")
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    @institution_blp.alt_response(409, response="DEFAULT_ERROR",
                                  description="past your SLA (`routing_expired`), a different "
                                              "decision already made, or withdrawn")
    def post(self, body, routing_id):
        """Decide: approve with an offer that fits the product's ranges and the APR cap,
        or decline with reason codes."""
        view, created = decisions.decide(
            get_session(), principal(), routing_id, body, request_hash=body_hash(),
            apr_cap=current_app.config["APR_CAP"], context=routing_context())
        return view, 201 if created else 200


@institution_blp.route(f"/offers/{ID.format('offer_id')}")
class InstitutionOfferById(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.response(200, OfferForInstitutionOut)
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, offer_id):
        """One of your offers: `accepted` means fund it."""
        return disclosure.offer_view(disclosure.own_offer(get_session(), principal(),
                                                          offer_id))


@institution_blp.route("/loans")
class Loans(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.arguments(LoanIn)
    @institution_blp.response(201, LoanOut)
    @institution_blp.alt_response(200, schema=LoanOut,
                                  description="the same funding was already recorded")
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    @institution_blp.alt_response(409, response="DEFAULT_ERROR", description=CONFLICT)
    def post(self, body):
        """Fund an accepted offer (once)."""
        session = get_session()
        loan, created = loans.fund(session, principal(), body, request_hash=body_hash(),
                                   now=routing_context().clock())
        return loans.loan_view(session, loan), 201 if created else 200


@institution_blp.route(f"/loans/{ID.format('loan_id')}")
class LoanById(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.response(200, LoanOut)
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, loan_id):
        """One of your loans, with its events."""
        session = get_session()
        return loans.loan_view(session, disclosure.own_loan(session, principal(), loan_id))


@institution_blp.route(f"/loans/{ID.format('loan_id')}/events")
class LoanEvents(MethodView):
    @require(institution_blp, Role.INSTITUTION)
    @institution_blp.arguments(LoanEventIn)
    @institution_blp.response(201, LoanEventOut)
    @institution_blp.alt_response(200, schema=LoanEventOut,
                                  description="the same event was already recorded")
    @institution_blp.alt_response(404, response="DEFAULT_ERROR")
    @institution_blp.alt_response(409, response="DEFAULT_ERROR", description=CONFLICT)
    def post(self, body, loan_id):
        """Report a repayment event: instalment_due, instalment_paid, past_due (with
        days_past_due), paid_off or charged_off. Nothing follows paid_off or
        charged_off."""
        event, created = loans.record_event(get_session(), principal(), loan_id, body,
                                            now=routing_context().clock())
        return loans.event_view(event), 201 if created else 200


@offers_blp.route(f"/{ID.format('application_id')}/offers")
class ApplicationOffers(MethodView):
    @require(offers_blp, Role.BORROWER_APP, Role.OPS)
    @offers_blp.response(200, OfferOut(many=True))
    @offers_blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, application_id):
        """The offers on an application, best for the borrower first: open ones first, then
        lowest total cost of credit, lowest APR, highest amount."""
        return offers.list_for_borrower(get_session(), principal(), application_id,
                                        routing_context())


@offers_blp.route(f"/{ID.format('application_id')}/offers/{ID.format('offer_id')}/accept")
class AcceptOffer(MethodView):
    @require(offers_blp, Role.BORROWER_APP)
    @offers_blp.response(200, OfferOut)
    @offers_blp.alt_response(404, response="DEFAULT_ERROR")
    @offers_blp.alt_response(409, response="DEFAULT_ERROR",
                             description="the offer expired or was withdrawn")
    def post(self, application_id, offer_id):
        """Accept one offer. Every other offer is withdrawn and its institution told;
        accepting the same offer again changes nothing."""
        return offers.accept(get_session(), principal(), application_id, offer_id,
                             routing_context())


@offers_blp.route(f"/{ID.format('application_id')}/events")
class ApplicationEvents(MethodView):
    @require(offers_blp, Role.OPS)
    @offers_blp.response(200, EventOut(many=True))
    @offers_blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, application_id):
        """Every event of an application, in order (ops)."""
        session = get_session()
        visible_application(session, principal(), application_id)
        return events.for_application(session, application_id)


@deliveries_blp.route("/<int(max=2147483647):institution_id>/webhook-deliveries")
class Deliveries(MethodView):
    @require(deliveries_blp, Role.OPS, Role.INSTITUTION)
    @deliveries_blp.arguments(DeliveryFilters, location="query")
    @deliveries_blp.response(200, DeliveryOut(many=True))
    @deliveries_blp.paginate()
    def get(self, filters, institution_id, pagination_parameters):
        """Webhooks sent to an institution, newest first, with every attempt."""
        rows, pagination_parameters.item_count = inbox.deliveries(
            get_session(), principal(), institution_id, **filters,
            **window(pagination_parameters))
        return rows
