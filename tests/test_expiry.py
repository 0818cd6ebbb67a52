"""Routings undecided past the institution's SLA expire and give back the capacity they
reserved; offers lapse at their expiry. Both by the job and when read."""

from datetime import timedelta

from journeys import broken_invariants, decide, inbox, offer_terms, only_pending
from sqlalchemy import select

from core.db import get_session
from matching.models import DailyUsage


def usage(app) -> dict:
    with app.app_context():
        return {(str(scope), object_id): used for scope, object_id, used in get_session().execute(
            select(DailyUsage.scope, DailyUsage.object_id, DailyUsage.applications))}


def test_the_job_expires_routings_past_the_sla_and_releases_their_capacity(
        client, apply, borrower_app, clock, market, app, runner):
    (lender,) = market(1, decision_sla_seconds=60)
    created = apply().json
    assert usage(app) == {("product", lender.product): 1, ("institution", lender.id): 1}

    clock.advance(seconds=59)
    assert "expired 0 routings" in runner.invoke(args=["expire"]).output
    assert only_pending(client, lender)["status"] == "pending"

    clock.advance(seconds=2)
    result = runner.invoke(args=["expire"])
    assert result.exit_code == 0 and "expired 1 routings" in result.output, result.output
    assert usage(app) == {("product", lender.product): 0, ("institution", lender.id): 0}
    assert inbox(client, lender, status="expired")[0]["id"]
    final = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    # Nobody else could take it: the cascade found no one and the application ended.
    assert (final["status"], final["end_reason"]) == ("no_match", "no_eligible_product")

    # Running the job again changes nothing.
    assert "expired 0 routings" in runner.invoke(args=["expire"]).output
    assert usage(app)[("product", lender.product)] == 0
    assert broken_invariants(app) == {}


def test_a_decision_after_the_sla_is_refused_and_expires_the_routing(
        client, apply, clock, market, app):
    (slow, other) = market(2, decision_sla_seconds=120)
    apply()
    routing = only_pending(client, slow)
    clock.advance(seconds=121)
    late = decide(client, slow, routing["id"], offer_terms(clock))
    assert late.status_code == 409
    assert late.json["errors"] == {"conflict": "routing_expired"}
    assert usage(app)[("product", slow.product)] == 0
    # The same refusal again, without the job having run in between.
    assert decide(client, slow, routing["id"], offer_terms(clock)).status_code == 409
    assert broken_invariants(app) == {}


def test_expiry_of_a_whole_wave_cascades_to_the_next(client, apply, borrower_app, clock,
                                                     market, app, create_institution,
                                                     create_product, make_key):
    (slow,) = market(1, decision_sla_seconds=60)
    created = apply().json
    assert [r["institution"]["id"] for r in created["routed"]] == [slow.id]
    # A new institution joins after the first wave went out.
    late_comer = create_institution(name="Late Lender", decision_sla_seconds=600)
    create_product(late_comer["id"], name="Late Loan")

    clock.advance(seconds=61)
    application = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (application["status"], application["wave"]) == ("routed", 2)
    assert [(r["wave"], r["institution"]["id"], r["status"]) for r in application["routed"]] \
        == [(1, slow.id, "expired"), (2, late_comer["id"], "pending")]
    assert broken_invariants(app) == {}


def test_offers_lapse_by_the_job_too(client, apply, borrower_app, clock, market, app, runner):
    (lender,) = market(1)
    created = apply().json
    decide(client, lender, only_pending(client, lender)["id"],
           offer_terms(clock, offer_expires_at=(clock.now + timedelta(hours=1)).isoformat()))
    clock.advance(hours=1)
    result = runner.invoke(args=["expire"])
    assert "1 offers" in result.output, result.output
    offer = client.get(f"/v1/applications/{created['id']}/offers", headers=borrower_app).json
    assert offer[0]["status"] == "expired"
    assert client.get(f"/v1/institution/offers/{offer[0]['id']}",
                      headers=lender.key).json["status"] == "expired"
    assert broken_invariants(app) == {}
