"""Cascading waves: an application every institution of a wave declines (or lets expire)
is routed on to institutions not yet asked, up to the wave limit, then ends no_match."""

import threading

import pytest
from conftest import application_body
from journeys import (
    broken_invariants,
    decide,
    decline,
    inbox,
    offer_terms,
    only_pending,
    ops_key,
)
from sqlalchemy import select

from app import create_app
from core.db import get_session
from matching.models import Routing


@pytest.fixture
def app(database_url):
    """Two products per wave and at most two waves, so cascades show in small markets."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "PRODUCTS_PER_APPLICATION": 2, "MAX_WAVES": 2})
    yield app
    app.extensions["lendmatch.engine"].dispose()


def test_a_declined_wave_cascades_to_untried_institutions_then_ends_no_match(
        client, apply, borrower_app, clock, market, app):
    lenders = market(5)
    created = apply().json
    assert created["wave"] == 1 and len(created["routed"]) == 2
    first = {r["institution"]["id"] for r in created["routed"]}
    by_id = {lender.id: lender for lender in lenders}
    for institution_id in first:
        lender = by_id[institution_id]
        assert decide(client, lender, only_pending(client, lender)["id"],
                      decline("income_too_low")).status_code == 201

    now = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (now["status"], now["wave"]) == ("routed", 2)
    second = {r["institution"]["id"] for r in now["routed"] if r["wave"] == 2}
    assert len(second) == 2 and not second & first
    trace = client.get(f"/v1/applications/{created['id']}/trace", headers=ops_key(app)).json
    wave_two = trace["waves"][1]
    assert sorted(wave_two["excluded"]["institution_already_tried"]) == sorted(
        by_id[i].product for i in first)

    for institution_id in second:
        lender = by_id[institution_id]
        assert decide(client, lender, only_pending(client, lender)["id"],
                      decline("outside_risk_appetite")).status_code == 201
    final = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (final["status"], final["wave"], final["end_reason"]) == (
        "no_match", 2, "waves_exhausted")
    assert sorted(r["decline_reasons"][0] for r in final["routed"]) == [
        "income_too_low", "income_too_low", "outside_risk_appetite", "outside_risk_appetite"]
    # The fifth institution was never asked: at most N waves.
    untried = set(by_id) - first - second
    assert len(untried) == 1 and inbox(client, by_id[untried.pop()]) == []
    assert broken_invariants(app) == {}


def test_a_cascade_with_nobody_left_ends_no_match_with_its_reasons(
        client, apply, borrower_app, clock, market, app):
    lenders = market(2)
    created = apply().json
    for lender in lenders:
        decide(client, lender, only_pending(client, lender)["id"], decline("other"))
    final = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (final["status"], final["end_reason"]) == ("no_match", "no_eligible_product")
    assert final["not_routed"] == {"institution_already_tried": 2}
    assert broken_invariants(app) == {}


def test_an_approval_in_the_wave_stops_the_cascade(client, apply, borrower_app, clock, market,
                                                   app):
    lenders = market(4)
    created = apply().json
    asked = [x for x in lenders if inbox(client, x, status="pending")]
    assert len(asked) == 2
    decide(client, asked[0], only_pending(client, asked[0])["id"], offer_terms(clock))
    decide(client, asked[1], only_pending(client, asked[1])["id"], decline())
    now = client.get(f"/v1/applications/{created['id']}", headers=borrower_app).json
    assert (now["status"], now["wave"], len(now["routed"])) == ("offered", 1, 2)
    assert all(inbox(client, x) == [] for x in lenders if x not in asked)


def test_concurrent_declines_of_one_wave_cascade_exactly_once(app, apply, borrower_app, clock,
                                                             market):
    lenders = {x.id: x for x in market(4)}
    for round_ in range(4):
        created = apply(key=f"round-{round_}",
                        body=application_body(applicant={"external_id": f"p-{round_}"})).json
        asked = [lenders[r["institution"]["id"]] for r in created["routed"]]
        routings = {x.id: _pending_for(app, x, created["id"]) for x in asked}
        answers = _at_once(app, [
            (x.key, f"/v1/institution/routings/{routings[x.id]}/decision",
             decline("other")) for x in asked])
        assert sorted(answers) == [201, 201]
        final = app.test_client().get(f"/v1/applications/{created['id']}",
                                      headers=borrower_app).json
        assert (final["status"], final["wave"], len(final["routed"])) == ("routed", 2, 4)
    assert broken_invariants(app) == {}


def test_concurrent_accepts_take_exactly_one_offer(app, apply, borrower_app, clock, market):
    pair = market(2)
    for round_ in range(4):
        created = apply(key=f"round-{round_}",
                        body=application_body(applicant={"external_id": f"p-{round_}"})).json
        for lender in pair:
            routing = _pending_for(app, lender, created["id"])
            decide(app.test_client(), lender, routing, offer_terms(clock))
        offers = app.test_client().get(f"/v1/applications/{created['id']}/offers",
                                       headers=borrower_app).json
        answers = _at_once(app, [
            (borrower_app, f"/v1/applications/{created['id']}/offers/{o['id']}/accept", None)
            for o in offers])
        assert sorted(answers) == [200, 409]
        statuses = sorted(o["status"] for o in app.test_client().get(
            f"/v1/applications/{created['id']}/offers", headers=borrower_app).json)
        assert statuses == ["accepted", "withdrawn"]
    assert broken_invariants(app) == {}


def _pending_for(app, lender, application_id) -> str:
    items = inbox(app.test_client(), lender, status="pending")
    (routing,) = [r for r in items if r["id"] in _routing_ids(app, application_id)]
    return routing["id"]


def _routing_ids(app, application_id) -> set[str]:
    with app.app_context():
        return set(get_session().scalars(
            select(Routing.id).where(Routing.application_id == application_id)))


def _at_once(app, calls) -> list[int]:
    """POST every call from its own thread at the same moment; the status codes."""
    barrier = threading.Barrier(len(calls))
    codes = [None] * len(calls)

    def post(i, headers, path, body):
        client = app.test_client()
        barrier.wait()
        codes[i] = client.post(path, json=body, headers=headers).status_code

    threads = [threading.Thread(target=post, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes
