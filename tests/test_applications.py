"""POST /v1/applications and reading it back: validation, consent, idempotency, the
cool-down, K, paused products, caps across days, and the trace."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import application_body
from sqlalchemy import func, select

from app import create_app
from core.db import get_session
from core.principal import Role
from matching.models import Application, DailyUsage, Routing, RoutingTrace

RULES = {"regions": [], "channels": [], "employment": [], "dti_max": None,
         "income_min": 0, "age_min": 18, "age_max": 65}


@pytest.fixture
def market(create_institution, create_product):
    """Eight institutions with two products each, all open to the example applicant."""
    products = []
    for i in range(8):
        lender = create_institution(name=f"Lender {i}")
        for j in range(2):
            products.append(create_product(lender["id"], name=f"Loan {i}-{j}",
                                           apr_min=0.10 + 0.01 * j, rules=RULES))
    return products


def count(app, model) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


def routed_ids(response) -> list[int]:
    return [r["product"]["id"] for r in response.json["routed"]]


def test_routes_at_most_k_products_one_per_institution(apply, market):
    response = apply()
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "routed" and body["wave"] == 1
    assert [r["rank"] for r in body["routed"]] == [1, 2, 3, 4, 5]
    institutions = [r["institution"]["id"] for r in body["routed"]]
    assert len(set(institutions)) == 5
    assert body["not_routed"] == {"institution_already_routed": 5, "outranked": 6}
    assert body["products_considered"] == 16
    first = body["routed"][0]
    assert first["approval_odds"] in {"high", "medium", "low"}
    assert first["status"] == "pending"
    assert set(first["terms"]) == {"amount_min", "amount_max", "term_min", "term_max",
                                   "term_unit", "apr_min", "apr_max"}


def test_the_creator_and_ops_can_read_it_and_nobody_else(client, apply, market, ops,
                                                          make_key):
    created = apply().json
    path = f"/v1/applications/{created['id']}"
    assert client.get(path, headers=ops).json == created
    other_app = make_key(Role.BORROWER_APP)
    lender = make_key(Role.INSTITUTION, market[0]["institution_id"])
    assert client.get(path, headers=other_app).status_code == 404
    # Institutions see applicants only through their routings, under a pseudonym.
    assert client.get(path, headers=lender).status_code == 403
    assert client.get("/v1/applications/" + "0" * 26, headers=ops).status_code == 404


def test_the_creator_reads_what_it_was_told(client, apply, market, borrower_app):
    created = apply().json
    assert client.get(f"/v1/applications/{created['id']}",
                      headers=borrower_app).json == created


def test_k_per_channel(database_url, market, borrower_app):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "PRODUCTS_PER_CHANNEL": {"ecommerce": 2}})
    client = app.test_client()
    response = client.post("/v1/applications", json=application_body(),
                           headers={**borrower_app, "Idempotency-Key": "k"})
    assert len(response.json["routed"]) == 2
    app_channel = client.post(
        "/v1/applications", json=application_body(applicant={"external_id": "u-2"},
                                                   channel="app"),
        headers={**borrower_app, "Idempotency-Key": "k2"})
    assert len(app_channel.json["routed"]) == 5
    app.extensions["lendmatch.engine"].dispose()


# --- consent and validation -------------------------------------------------------------

@pytest.mark.parametrize("consent", [None, "absent", {}, {"version": "2026-01"},
                                     {"version": "", "given_at": "2026-11-21T10:00:00Z"},
                                     {"version": "2026-01", "given_at": "2099-01-01T00:00:00Z"},
                                     {"version": "2026-01", "given_at": "2026-11-21T10:00:00"}])
def test_no_consent_no_routing(app, apply, market, consent):
    body = application_body()
    if consent == "absent":
        del body["consent"]
    else:
        body["consent"] = consent
    response = apply(body)
    assert response.status_code == 422
    assert "consent" in response.json["errors"]["json"]
    assert count(app, Application) == 0 and count(app, DailyUsage) == 0


@pytest.mark.parametrize("part, field, value", [
    ("applicant", "age", 17), ("applicant", "age", "29"), ("applicant", "region", "CN-XX"),
    ("applicant", "monthly_income", -1), ("applicant", "employment", "astronaut"),
    ("applicant", "credit_score", 200), ("applicant", "monthly_debt", 1.5),
    ("applicant", "first_loan", "maybe"), ("applicant", "signals", {"a": "x"}),
    ("applicant", "signals", [1, 2]), ("applicant", "external_id", ""),
    ("applicant", "nickname", "Bo"), ("request", "amount", 0),
    ("request", "term_unit", "week"), ("request", "term", 121),
    ("request", "purpose", "yacht"), (None, "channel", "tv"), (None, "extra", 1),
])
def test_every_bad_field_is_named(app, apply, market, part, field, value):
    body = application_body()
    (body[part] if part else body)[field] = value
    response = apply(body)
    assert response.status_code == 422, response.json
    errors = response.json["errors"]["json"]
    assert field in (errors[part] if part else errors)
    assert count(app, Application) == 0


def test_missing_parts_and_the_idempotency_header(client, apply, borrower_app, market):
    for part in ("applicant", "request", "channel"):
        body = application_body()
        del body[part]
        assert part in apply(body).json["errors"]["json"]
    response = client.post("/v1/applications", json=application_body(), headers=borrower_app)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]["headers"]
    spaced = apply(key="has a space")
    assert spaced.status_code == 422


def test_only_borrower_apps_apply(client, ops, make_key, market):
    for headers in (ops, make_key(Role.INSTITUTION, market[0]["institution_id"])):
        response = client.post("/v1/applications", json=application_body(),
                               headers={**headers, "Idempotency-Key": "x"})
        assert response.status_code == 403


# --- idempotency and the cool-down ------------------------------------------------------

def test_a_retry_returns_the_original_response_without_routing_again(app, apply, market):
    first = apply(key="retry-me")
    again = apply(key="retry-me")
    assert again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(app, Application) == 1 and count(app, Routing) == 5
    with app.app_context():
        assert get_session().scalar(select(func.sum(DailyUsage.applications))) == 10


def test_field_order_does_not_make_a_different_body(client, apply, borrower_app, market):
    first = apply(key="same")
    body = application_body()
    reordered = dict(reversed(list(body.items())))
    again = client.post("/v1/applications", json=reordered,
                        headers={**borrower_app, "Idempotency-Key": "same"})
    assert again.status_code == 201 and again.json["id"] == first.json["id"]


def test_the_same_key_with_another_body_is_409(app, apply, market):
    apply(key="once")
    changed = apply(application_body(request={"amount": 4000}), key="once")
    assert changed.status_code == 409
    assert "Idempotency-Key" in changed.json["message"]
    assert count(app, Application) == 1


def test_keys_are_per_borrower_app(apply, make_key, market):
    first = apply(key="shared")
    other = apply(application_body(applicant={"external_id": "u-other"}), key="shared",
                  headers=make_key(Role.BORROWER_APP))
    assert other.status_code == 201 and other.json["id"] != first.json["id"]


def test_the_same_applicant_inside_the_cool_down_gets_the_open_application(app, apply,
                                                                            market):
    first = apply()
    second = apply(application_body(request={"amount": 5000}))
    assert second.status_code == 200
    assert second.json["id"] == first.json["id"]
    assert count(app, Application) == 1 and count(app, Routing) == 5


def test_after_the_cool_down_a_new_application_is_routed(app, apply, market):
    context = app.extensions["lendmatch.routing"]
    start = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    context.clock = lambda: start
    first = apply()
    context.clock = lambda: start + context.cooldown + timedelta(seconds=1)
    later = apply()
    assert later.status_code == 201 and later.json["id"] != first.json["id"]


def test_a_no_match_is_not_an_open_application(app, apply, market):
    nowhere = application_body(applicant={"region": "CN-HK"})
    first = apply(nowhere)
    assert first.json["status"] == "no_match"
    assert first.json["not_routed"] == {"region_not_served": 16}
    assert apply(nowhere).status_code == 201
    assert count(app, Application) == 2


# --- pauses and caps --------------------------------------------------------------------

def test_paused_products_and_institutions_are_never_routed(client, ops, apply, market):
    paused_products = {p["id"] for p in market[:6]}
    for product_id in paused_products:
        assert client.patch(f"/v1/products/{product_id}", headers=ops,
                            json={"status": "paused", "reason": "test"}).status_code == 200
    paused_lender = market[6]["institution_id"]
    assert client.patch(f"/v1/institutions/{paused_lender}", headers=ops,
                        json={"status": "paused", "reason": "test"}).status_code == 200
    for n in range(20):
        response = apply(application_body(applicant={"external_id": f"u-{n}"}))
        assert not set(routed_ids(response)) & paused_products
        assert paused_lender not in {r["institution"]["id"] for r in response.json["routed"]}
        assert response.json["not_routed"]["product_paused"] == 6
        assert response.json["not_routed"]["institution_paused"] == 2


def test_a_change_made_by_another_worker_is_seen_at_once(database_url, market, ops,
                                                          borrower_app):
    """Two app instances stand for two worker processes with their own compiled arrays."""
    router = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0})
    admin = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0})
    post = router.test_client().post
    first = post("/v1/applications", json=application_body(),
                 headers={**borrower_app, "Idempotency-Key": "1"}).json
    top = first["routed"][0]["product"]["id"]
    admin.test_client().patch(f"/v1/products/{top}", headers=ops,
                              json={"weight": 0.0, "reason": "test"})
    second = post("/v1/applications",
                  json=application_body(applicant={"external_id": "u-2"}),
                  headers={**borrower_app, "Idempotency-Key": "2"}).json
    assert top not in [r["product"]["id"] for r in second["routed"]]
    assert second["not_routed"]["zero_weight"] == 1
    for app in (router, admin):
        app.extensions["lendmatch.engine"].dispose()


def test_caps_fill_up_and_reset_on_the_next_local_day(app, apply, create_institution,
                                                      create_product):
    lender = create_institution(name="Capped", daily_application_cap=3)
    capped = create_product(lender["id"], name="Two a day", daily_application_cap=2,
                            rules=RULES)
    other = create_product(lender["id"], name="Uncapped", daily_application_cap=None,
                           apr_min=0.2, rules=RULES)
    context = app.extensions["lendmatch.routing"]
    # 23:30 in Shanghai; the next local day starts 30 minutes later.
    evening = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    context.clock = lambda: evening

    def route(n):
        return apply(application_body(applicant={"external_id": f"u-{n}"})).json

    assert [r["product"]["id"] for r in route(1)["routed"]] == [capped["id"]]
    assert [r["product"]["id"] for r in route(2)["routed"]] == [capped["id"]]
    third = route(3)
    assert [r["product"]["id"] for r in third["routed"]] == [other["id"]]
    assert third["not_routed"] == {"cap_exhausted": 1}
    fourth = route(4)
    assert fourth["status"] == "no_match"
    assert fourth["not_routed"] == {"cap_exhausted": 1, "institution_cap_exhausted": 1}

    context.clock = lambda: evening + timedelta(minutes=31)
    assert [r["product"]["id"] for r in route(5)["routed"]] == [capped["id"]]


# --- the trace --------------------------------------------------------------------------

def test_the_trace_is_complete_and_matches_the_response(client, ops, apply, market,
                                                        borrower_app):
    client.patch(f"/v1/products/{market[0]['id']}", headers=ops,
                 json={"status": "paused", "reason": "test"})
    response = apply().json
    trace_response = client.get(f"/v1/applications/{response['id']}/trace", headers=ops)
    assert trace_response.status_code == 200
    assert trace_response.json["application_id"] == response["id"]
    [trace] = trace_response.json["waves"]
    assert trace["wave"] == 1 and trace["catalogue_version"] >= 1
    # No decision has been learned from yet: the approval model is still its prior.
    assert trace["approval_model"] == "bayes-logit-pooled@prior"
    assert trace["explored"] is False
    assert trace["k"] == 5

    chosen = [c["product_id"] for c in trace["chosen"]]
    assert chosen == routed_ids_of(response)
    assert [c["rank"] for c in trace["chosen"]] == [r["rank"] for r in response["routed"]]

    # Every product is accounted for exactly once: excluded, chosen, or not chosen.
    excluded = [p for ids in trace["excluded"].values() for p in ids]
    not_chosen = [p for ids in trace["not_chosen"].values() for p in ids]
    eligible = [e["product_id"] for e in trace["eligible"]]
    assert sorted(excluded + eligible) == sorted(p["id"] for p in market)
    assert sorted(not_chosen + chosen) == sorted(eligible)
    assert trace["products_in_catalogue"] == len(market)
    counts = {r: len(ids) for r, ids in {**trace["excluded"], **trace["not_chosen"]}.items()
              if ids}
    assert counts == response["not_routed"]

    by_id = {e["product_id"]: e for e in trace["eligible"]}
    for entry in trace["eligible"]:
        assert 0 < entry["probability"] < 1
        # Exploration is off: selection used the model's cautious estimate.
        assert 0 < entry["probability"] <= entry["mean"]
        assert entry["score"] == pytest.approx(
            entry["weight"] * (entry["reach"] + entry["probability"] * entry["takeup"]
                               * (entry["value"] - entry["loss"])) - entry["price"])
        assert entry["chosen"] == (entry["product_id"] in chosen)
    assert trace["objective"]["sum_of_scores"] == pytest.approx(
        sum(by_id[p]["score"] for p in chosen))
    p_none = 1.0
    for p in chosen:
        p_none *= 1 - by_id[p]["mean"]
    assert trace["objective"]["p_at_least_one_approval"] == pytest.approx(1 - p_none)
    for rank, item in enumerate(response["routed"]):
        assert item["approval_odds"] == band(by_id[item["product"]["id"]]["mean"])
        if rank:
            assert by_id[item["product"]["id"]]["score"] <= by_id[chosen[rank - 1]]["score"]

    assert client.get(f"/v1/applications/{response['id']}/trace",
                      headers=borrower_app).status_code == 403


def routed_ids_of(body) -> list[int]:
    return [r["product"]["id"] for r in body["routed"]]


def band(p: float) -> str:
    return "high" if p >= 0.5 else "medium" if p >= 0.2 else "low"


def test_every_routing_has_its_trace(app, apply, market):
    for n in range(3):
        apply(application_body(applicant={"external_id": f"u-{n}"}))
    assert count(app, RoutingTrace) == count(app, Application) == 3


def test_the_answer_has_exactly_the_documented_shape(apply, market):
    """The view sends the service's answer without dumping it through ApplicationOut;
    dumping it must change nothing."""
    from matching.schemas import ApplicationOut, RoutedOut

    for body in (apply().json, apply(application_body(applicant={"region": "CN-HK",
                                                                   "external_id": "x"})).json):
        assert ApplicationOut().dump(body) == body
        assert set(body) == set(ApplicationOut().fields)
        for item in body["routed"]:
            assert set(item) == set(RoutedOut().fields)
