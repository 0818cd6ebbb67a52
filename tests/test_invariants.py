"""The invariant checker (``flask --app app check-invariants``) passes on a real journey and
names what is broken when the state tables and the event log disagree."""

import pytest
from journeys import decide, offer_terms, only_pending
from sqlalchemy import insert, select, update

from core.db import get_session, transaction
from feedback.models import Offer, OfferStatus
from matching.models import Application, ApplicationStatus, DailyUsage, Routing, RoutingStatus


@pytest.fixture
def journey(app, client, apply, borrower_app, clock, market):
    """One application approved by one of two lenders, accepted and funded."""
    lender, other = market(2, daily_application_cap=100)
    created = apply().json
    routing = only_pending(client, lender)
    decide(client, lender, routing["id"], offer_terms(clock))
    offer = client.get(f"/v1/applications/{created['id']}/offers", headers=borrower_app).json[0]
    client.post(f"/v1/applications/{created['id']}/offers/{offer['id']}/accept",
                headers=borrower_app)
    client.post("/v1/institution/loans", headers=lender.key, json={
        "offer_id": offer["id"], "amount": 3000, "funded_at": clock.now.isoformat()})
    return {"application": created["id"], "routing": routing["id"], "lender": lender}


def tamper(app, statement) -> None:
    with app.app_context():
        session = get_session()
        with transaction(session):
            session.execute(statement)


def test_a_real_journey_keeps_every_invariant(runner, journey):
    result = runner.invoke(args=["check-invariants"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok  ") == 9 and "FAIL" not in result.output


@pytest.mark.parametrize("broken, names", [
    ("lost_event", "every decided or closed routing has its one event"),
    ("lost_routings", "every application was routed or ended no_match"),
    ("over_cap", "daily counters match the routings holding them and stay within caps"),
    ("accepted_without_offer", "accepted applications have exactly one accepted offer"),
])
def test_each_kind_of_damage_is_named_with_its_ids(app, runner, journey, broken, names):
    application, routing = journey["application"], journey["routing"]
    if broken == "lost_event":        # the event log is append-only: change the state
        tamper(app, update(Routing).where(Routing.id == routing)
               .values(status=RoutingStatus.DECLINED))
        culprit = routing
    elif broken == "lost_routings":   # an application stored but never routed
        with app.app_context():
            row = dict(get_session().execute(select(Application.__table__).where(
                Application.id == application)).one()._mapping)
        ghost = "0" * 26
        tamper(app, insert(Application.__table__).values(
            {**row, "id": ghost, "idempotency_key": "ghost",
             "status": ApplicationStatus.ROUTED}))
        culprit = ghost
    elif broken == "over_cap":
        tamper(app, update(DailyUsage).where(DailyUsage.scope == "institution",
                                             DailyUsage.object_id == journey["lender"].id)
               .values(applications=101))
        culprit = "institution:"          # ids read day/institution
    else:
        tamper(app, update(Offer).where(Offer.application_id == application)
               .values(status=OfferStatus.WITHDRAWN))
        culprit = application
    result = runner.invoke(args=["check-invariants"])
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert any(line.startswith(f"FAIL {names}: ") and culprit in line for line in failed), \
        result.output
