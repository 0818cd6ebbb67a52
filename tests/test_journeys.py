"""Whole journeys through HTTP: apply → decisions → offers → accept → fund → repay, and the
cascade to later waves."""

from datetime import timedelta

import pytest
from journeys import (
    broken_invariants,
    decide,
    decline,
    offer_terms,
    only_pending,
    ops_key,
)


def test_apply_decide_accept_fund_repay_pay_off(client, apply, borrower_app, clock, market,
                                                app):
    a, b, c = market(3)
    created = apply()
    assert created.status_code == 201
    application_id = created.json["id"]
    assert {r["institution"]["id"] for r in created.json["routed"]} == {a.id, b.id, c.id}

    # Each institution finds exactly its own routing in its inbox.
    routing_a, routing_b, routing_c = (only_pending(client, x) for x in (a, b, c))
    assert routing_a["product"]["id"] == a.product
    assert routing_a["request"] == {"amount": 3000, "term": 12, "term_unit": "month",
                                    "purpose": "consumption"}

    approved_a = decide(client, a, routing_a["id"], offer_terms(clock, apr=0.20))
    assert approved_a.status_code == 201, approved_a.json
    assert approved_a.json["routing"]["status"] == "approved"
    assert approved_a.json["offer"]["status"] == "open"
    approved_b = decide(client, b, routing_b["id"], offer_terms(clock, apr=0.15))
    assert approved_b.status_code == 201
    declined_c = decide(client, c, routing_c["id"], decline("debt_too_high"))
    assert declined_c.status_code == 201
    assert declined_c.json["offer"] is None

    application = client.get(f"/v1/applications/{application_id}", headers=borrower_app).json
    assert application["status"] == "offered"
    statuses = {r["institution"]["id"]: (r["status"], r["decline_reasons"])
                for r in application["routed"]}
    assert statuses == {a.id: ("approved", None), b.id: ("approved", None),
                        c.id: ("declined", ["debt_too_high"])}

    # Cheapest first: B's 15% costs less than A's 20% over the same amount and term.
    offers = client.get(f"/v1/applications/{application_id}/offers", headers=borrower_app)
    assert offers.status_code == 200
    assert [o["institution"]["id"] for o in offers.json] == [b.id, a.id]
    assert offers.json[0]["total_cost"] < offers.json[1]["total_cost"]
    assert offers.json[0]["instalment"] == pytest.approx(270.77, abs=0.01)
    offer_b, offer_a = offers.json[0]["id"], offers.json[1]["id"]

    accepted = client.post(f"/v1/applications/{application_id}/offers/{offer_b}/accept",
                           headers=borrower_app)
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted"
    again = client.post(f"/v1/applications/{application_id}/offers/{offer_b}/accept",
                        headers=borrower_app)
    assert again.status_code == 200
    offers = client.get(f"/v1/applications/{application_id}/offers", headers=borrower_app)
    assert {o["id"]: o["status"] for o in offers.json} == {offer_b: "accepted",
                                                           offer_a: "withdrawn"}
    # A is told its offer was withdrawn.
    assert client.get(f"/v1/institution/offers/{offer_a}",
                      headers=a.key).json["status"] == "withdrawn"
    assert client.get(f"/v1/applications/{application_id}",
                      headers=borrower_app).json["status"] == "accepted"

    funded_at = clock.now.isoformat()
    funding = {"offer_id": offer_b, "amount": 3000, "funded_at": funded_at}
    loan = client.post("/v1/institution/loans", json=funding, headers=b.key)
    assert loan.status_code == 201, loan.json
    assert loan.json["status"] == "current"
    retried = client.post("/v1/institution/loans", json=funding, headers=b.key)
    assert retried.status_code == 200 and retried.json["id"] == loan.json["id"]
    assert client.get(f"/v1/applications/{application_id}",
                      headers=borrower_app).json["status"] == "funded"

    loan_id = loan.json["id"]
    for event in ({"type": "instalment_due", "amount": 271, "instalment": 1},
                  {"type": "past_due", "days_past_due": 3},
                  {"type": "instalment_paid", "amount": 271, "instalment": 1},
                  {"type": "paid_off"}):
        clock.advance(days=10)
        posted = client.post(f"/v1/institution/loans/{loan_id}/events",
                             json=event | {"at": clock.now.isoformat()}, headers=b.key)
        assert posted.status_code == 201, posted.json
    final = client.get(f"/v1/institution/loans/{loan_id}", headers=b.key).json
    assert final["status"] == "paid_off"
    assert final["max_days_past_due"] == 3 and final["days_past_due"] == 0
    assert [e["type"] for e in final["events"]] == [
        "funded", "instalment_due", "past_due", "instalment_paid", "paid_off"]

    after = client.post(f"/v1/institution/loans/{loan_id}/events",
                        json={"type": "instalment_paid", "amount": 1,
                              "at": clock.now.isoformat()}, headers=b.key)
    assert after.status_code == 409
    assert after.json["errors"] == {"conflict": "loan_paid_off"}

    log = client.get(f"/v1/applications/{application_id}/events", headers=ops_key(app)).json
    kinds = [e["type"] for e in log]
    assert kinds.count("routed") == 3 and kinds.count("delivered") == 3
    assert kinds.count("approved") == 2 and kinds.count("declined") == 1
    assert kinds[-7:] == ["offer_accepted", "offer_withdrawn", "funded", "instalment_due",
                          "past_due", "instalment_paid", "paid_off"]
    assert broken_invariants(app) == {}


def test_the_same_decision_again_is_idempotent_and_a_different_one_is_refused(
        client, apply, clock, market, app):
    (lender,) = market(1)
    apply()
    routing = only_pending(client, lender)
    first = decide(client, lender, routing["id"], offer_terms(clock))
    again = decide(client, lender, routing["id"], offer_terms(clock))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["offer"]["id"] == first.json["offer"]["id"]
    other = decide(client, lender, routing["id"], decline())
    assert other.status_code == 409
    assert other.json["errors"] == {"conflict": "routing_approved"}
    assert broken_invariants(app) == {}


@pytest.mark.parametrize("terms, field", [
    ({"amount": 50_000}, "amount"),          # the product lends at most 30,000
    ({"apr": 0.30}, "apr"),                  # over the product's range and the APR cap
    ({"apr": 0.05}, "apr"),                  # under the product's minimum
    ({"term": 24}, "term"),                  # the product lends 3–12 months
    ({"term_unit": "day", "term": 30}, "term_unit"),
    ({"offer_expires_at": "2026-01-01T00:00:00Z"}, "offer_expires_at"),
])
def test_an_offer_must_fit_the_product_and_the_apr_cap(client, apply, clock, market, terms,
                                                       field):
    (lender,) = market(1)
    apply()
    routing = only_pending(client, lender)
    response = decide(client, lender, routing["id"], offer_terms(clock, **terms))
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert only_pending(client, lender)["status"] == "pending"


@pytest.mark.parametrize("body, field", [
    ({"decision": "approve"}, "amount"),
    ({"decision": "decline"}, "reasons"),
    ({"decision": "decline", "reasons": ["no_reason_given"]}, "reasons"),
    ({"decision": "decline", "reasons": ["other"], "apr": 0.1}, "apr"),
    ({"decision": "maybe"}, "decision"),
])
def test_a_malformed_decision_names_the_field(client, apply, market, body, field):
    (lender,) = market(1)
    apply()
    routing = only_pending(client, lender)
    response = decide(client, lender, routing["id"], body)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_an_offer_past_its_expiry_cannot_be_accepted_and_the_application_expires(
        client, apply, borrower_app, clock, market, app):
    (lender, other) = market(2)
    created = apply().json
    decide(client, lender, only_pending(client, lender)["id"],
           offer_terms(clock, offer_expires_at=(clock.now + timedelta(hours=1)).isoformat()))
    decide(client, other, only_pending(client, other)["id"], decline())
    offer_id = client.get(f"/v1/applications/{created['id']}/offers",
                          headers=borrower_app).json[0]["id"]

    clock.advance(hours=2)
    offers = client.get(f"/v1/applications/{created['id']}/offers", headers=borrower_app).json
    assert offers[0]["status"] == "expired"
    late = client.post(f"/v1/applications/{created['id']}/offers/{offer_id}/accept",
                       headers=borrower_app)
    assert late.status_code == 409
    assert late.json["errors"] == {"conflict": "offer_expired"}
    final = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (final["status"], final["end_reason"]) == ("expired", "offers_expired")
    assert broken_invariants(app) == {}


def test_sequence_errors_are_409_and_change_nothing(client, apply, borrower_app, clock,
                                                    market, app):
    a, b = market(2)
    created = apply().json
    decide(client, a, only_pending(client, a)["id"], offer_terms(clock))
    routing_b = only_pending(client, b)
    offer_a = client.get(f"/v1/applications/{created['id']}/offers",
                         headers=borrower_app).json[0]["id"]

    # Funding before the borrower accepted.
    early = client.post("/v1/institution/loans", headers=a.key, json={
        "offer_id": offer_a, "amount": 3000, "funded_at": clock.now.isoformat()})
    assert early.status_code == 409 and early.json["errors"] == {"conflict": "offer_open"}

    accept = client.post(f"/v1/applications/{created['id']}/offers/{offer_a}/accept",
                         headers=borrower_app)
    assert accept.status_code == 200
    # B's routing was withdrawn when the borrower took A's offer; deciding it now is late.
    late = decide(client, b, routing_b["id"], offer_terms(clock))
    assert late.status_code == 409 and late.json["errors"] == {"conflict": "routing_withdrawn"}

    funding = {"offer_id": offer_a, "amount": 3000, "funded_at": clock.now.isoformat()}
    loan = client.post("/v1/institution/loans", json=funding, headers=a.key).json
    twice = client.post("/v1/institution/loans", json=funding | {"amount": 2000},
                        headers=a.key)
    assert twice.status_code == 409 and twice.json["errors"] == {"conflict": "offer_funded"}
    before_funding = client.post(f"/v1/institution/loans/{loan['id']}/events", headers=a.key,
                                 json={"type": "instalment_paid", "amount": 10,
                                       "at": (clock.now - timedelta(days=1)).isoformat()})
    assert before_funding.status_code == 409
    charged = client.post(f"/v1/institution/loans/{loan['id']}/events", headers=a.key,
                          json={"type": "charged_off", "at": clock.now.isoformat()})
    assert charged.status_code == 201
    after = client.post(f"/v1/institution/loans/{loan['id']}/events", headers=a.key,
                        json={"type": "past_due", "days_past_due": 95,
                              "at": clock.now.isoformat()})
    assert after.status_code == 409 and after.json["errors"] == {"conflict": "loan_charged_off"}

    state = client.get(f"/v1/institution/loans/{loan['id']}", headers=a.key).json
    assert state["status"] == "charged_off" and state["amount"] == 3000
    assert [e["type"] for e in state["events"]] == ["funded", "charged_off"]
    assert broken_invariants(app) == {}
