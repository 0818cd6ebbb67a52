"""An institution sees only its own routings, offers and loans (another's are 404, exactly
like ones that do not exist), and the applicant only under its own pseudonymous ref."""

import pytest
from conftest import application_body
from journeys import decide, inbox, offer_terms, only_pending

from core.principal import Role


@pytest.fixture
def funded(client, apply, borrower_app, clock, market):
    """A and B each approved; the borrower took B's offer and B funded it."""
    a, b = market(2)
    created = apply().json
    routing_a, routing_b = only_pending(client, a), only_pending(client, b)
    decide(client, a, routing_a["id"], offer_terms(clock))
    decide(client, b, routing_b["id"], offer_terms(clock, apr=0.12))
    offers = client.get(f"/v1/applications/{created['id']}/offers", headers=borrower_app).json
    offer_b = offers[0]["id"]
    client.post(f"/v1/applications/{created['id']}/offers/{offer_b}/accept",
                headers=borrower_app)
    loan = client.post("/v1/institution/loans", headers=b.key, json={
        "offer_id": offer_b, "amount": 3000, "funded_at": clock.now.isoformat()}).json
    return a, b, routing_b["id"], offer_b, loan["id"], created["id"]


def test_institution_a_cannot_reach_institution_b_s_routings_offers_or_loans(
        client, clock, funded):
    a, b, routing_b, offer_b, loan_b, _ = funded
    for method, path, body in [
        ("get", f"/v1/institution/routings/{routing_b}", None),
        ("post", f"/v1/institution/routings/{routing_b}/decision", offer_terms(clock)),
        ("get", f"/v1/institution/offers/{offer_b}", None),
        ("post", "/v1/institution/loans",
         {"offer_id": offer_b, "amount": 3000, "funded_at": clock.now.isoformat()}),
        ("get", f"/v1/institution/loans/{loan_b}", None),
        ("post", f"/v1/institution/loans/{loan_b}/events",
         {"type": "paid_off", "at": clock.now.isoformat()}),
    ]:
        theirs = getattr(client, method)(path, json=body, headers=a.key)
        assert theirs.status_code == 404, (path, theirs.json)
    assert [r["id"] for r in inbox(client, b)] == [routing_b]
    assert routing_b not in [r["id"] for r in inbox(client, a)]
    # B's own view is unchanged by A's attempts.
    assert client.get(f"/v1/institution/loans/{loan_b}", headers=b.key).json["status"] == \
        "current"


def test_other_roles_cannot_use_the_institution_api(client, borrower_app, funded, app):
    _, _, routing_b, _, _, _ = funded
    for headers in (borrower_app, {}):
        response = client.get(f"/v1/institution/routings/{routing_b}", headers=headers)
        assert response.status_code in (401, 403)


def test_another_borrower_app_cannot_see_or_take_the_offers(client, make_key, funded):
    _, _, _, offer_b, _, application_id = funded
    stranger = make_key(Role.BORROWER_APP)
    assert client.get(f"/v1/applications/{application_id}/offers",
                      headers=stranger).status_code == 404
    assert client.post(f"/v1/applications/{application_id}/offers/{offer_b}/accept",
                       headers=stranger).status_code == 404


def test_the_applicant_ref_is_stable_per_institution_and_differs_across_them(
        client, apply, market):
    a, b = market(2)
    apply(key="first")
    for lender in (a, b):   # both decline: the application ends, so the person may reapply
        decide(client, lender, only_pending(client, lender)["id"],
               {"decision": "decline", "reasons": ["other"]})
    assert apply(key="again").status_code == 201
    apply(application_body(applicant={"external_id": "u-456"}), key="someone-else")

    refs_a = [r["applicant"]["ref"] for r in inbox(client, a)]
    refs_b = [r["applicant"]["ref"] for r in inbox(client, b)]
    assert refs_a[0] == refs_a[1] != refs_a[2]
    assert refs_b[0] == refs_b[1] != refs_b[2]
    assert not set(refs_a) & set(refs_b)
    routed = inbox(client, a)[0]
    assert "external_id" not in routed["applicant"] and "signals" not in routed["applicant"]
    assert "application_id" not in routed and "u-123" not in str(routed)
