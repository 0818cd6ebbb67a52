"""Health, readiness, Prometheus metrics and JSON logs, as an operator sees them."""

import json
import logging

import pytest
from conftest import POSTGRES_URL, application_body
from journeys import decide, decline, inbox, offer_terms
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app import create_app
from core.db import get_session
from observability.logs import JsonFormatter


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = sample.value
    return values


def value(values: dict, name: str, **labels) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_alive_and_ready_on_a_migrated_database(client):
    assert client.get("/healthz").json == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"
    assert ready.json["checks"]["database"] == "ok"
    assert ready.json["checks"]["migrations"] == "ok"
    assert ready.json["checks"]["catalogue"].startswith("ok (version")


def test_not_ready_before_migrating_and_ready_after(fresh_database_url):
    app = create_app({"DATABASE_URL": fresh_database_url, "TESTING": True})
    client = app.test_client()
    try:
        before = client.get("/readyz")
        assert before.status_code == 503
        assert before.headers["Retry-After"] == "1"
        assert before.json["checks"]["migrations"].startswith("at nothing, head is ")
        assert "db upgrade" in before.json["checks"]["migrations"]
        assert client.get("/healthz").status_code == 200
        assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
        assert client.get("/readyz").status_code == 200
    finally:
        app.extensions["lendmatch.engine"].dispose()


def test_an_unreachable_database_is_503_with_retry_after_never_500(tmp_path, ops):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.sqlite",
                      "TESTING": True})
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == "unreachable"
    answer = client.get("/v1/products", headers=ops)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json == {"code": 503, "status": "Service Unavailable",
                           "message": "the database is unavailable; retry shortly"}
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def app(database_url):
    # Two products per wave, so a declined wave cascades in a small market.
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "PRODUCTS_PER_APPLICATION": 2, "MAX_WAVES": 2})
    yield app
    app.extensions["lendmatch.engine"].dispose()


def test_metrics_need_the_token_when_one_is_set(database_url):
    token = "metrics-token-0123456789"
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "METRICS_TOKEN": token})
    client = app.test_client()
    try:
        for headers in ({}, {"Authorization": "Bearer metrics-token-wrong-value"},
                        {"Authorization": token}):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json["code"] == 401 and "LENDMATCH_METRICS_TOKEN" in \
                refused.json["message"]
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert "lendmatch_http_requests_total" in allowed.get_data(as_text=True)
    finally:
        app.extensions["lendmatch.engine"].dispose()


def test_metrics_count_requests_routings_decisions_and_cascades(client, apply, clock, market,
                                                                runner, ops):
    lenders = market(4)
    before = scrape(client)
    created = apply().json
    first_wave = {r["institution"]["id"] for r in created["routed"]}
    asked = [lender for lender in lenders if lender.id in first_wave]
    decide(client, asked[0], inbox(client, asked[0])[0]["id"], decline())
    decide(client, asked[1], inbox(client, asked[1])[0]["id"], decline())   # → wave 2
    third = next(lender for lender in lenders if lender.id not in first_wave
                 and inbox(client, lender))
    decide(client, third, inbox(client, third)[0]["id"], offer_terms(clock))
    client.post("/v1/applications", json=application_body(), headers=ops)    # 403

    after = scrape(client)
    assert value(after, "lendmatch_routings_total") - value(before, "lendmatch_routings_total") \
        == 4
    assert value(after, "lendmatch_cascades_total") == 1
    assert value(after, "lendmatch_decisions_total", decision="declined") == 2
    assert value(after, "lendmatch_decisions_total", decision="approved") == 1
    assert value(after, "lendmatch_http_requests_total", method="POST",
                 route="/v1/applications", status="201") == 1
    assert value(after, "lendmatch_http_requests_total", method="POST",
                 route="/v1/applications", status="403") == 1
    decisions_route = "/v1/institution/routings/<string(length=26):routing_id>/decision"
    assert value(after, "lendmatch_http_request_seconds_count", method="POST",
                 route=decisions_route) == 3
    # Refused requests count no events: a rolled-back transaction leaves no trace.
    again = decide(client, third, inbox(client, third)[0]["id"], decline())
    assert again.status_code == 409
    assert value(scrape(client), "lendmatch_decisions_total", decision="approved") == 1

    assert runner.invoke(args=["jobs", "run", "update-models"]).exit_code == 0
    jobs = scrape(client)
    assert value(jobs, "lendmatch_job_runs", job="update-models", status="done") == 1
    assert value(jobs, "lendmatch_job_last_finished_seconds", job="update-models") > 0
    versions = client.get("/v1/models", headers=ops).json
    newest = {}
    for model in versions:
        newest[model["kind"]] = max(newest.get(model["kind"], 0), model["id"])
    for kind, model_id in newest.items():
        assert value(jobs, "lendmatch_model_version", kind=kind) == model_id


def test_every_request_logs_one_json_line_with_its_request_id(client, apply, market, caplog):
    market(1)
    caplog.set_level(logging.INFO, logger="lendmatch")
    caplog.clear()
    mine = apply(headers=None)
    assert mine.status_code == 201
    chosen = client.get("/healthz", headers={"X-Request-Id": "trace-abc.123"})
    hostile = client.get("/healthz", headers={"X-Request-Id": "x\" injected=1 " + "y" * 80})

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "lendmatch.access"]
    assert [line["route"] for line in lines] == ["/v1/applications", "/healthz", "/healthz"]
    assert lines[0]["request_id"] == mine.headers["X-Request-Id"]
    assert lines[0]["status"] == 201 and lines[0]["role"] == "borrower_app"
    assert isinstance(lines[0]["key_id"], int) and lines[0]["ms"] > 0
    assert chosen.headers["X-Request-Id"] == lines[1]["request_id"] == "trace-abc.123"
    assert "injected" not in hostile.headers["X-Request-Id"]
    assert lines[2]["request_id"] == hostile.headers["X-Request-Id"]


def test_logs_hold_no_personal_data(app, client, apply, market, clock, borrower_app, caplog):
    lenders = market(2)
    caplog.set_level(logging.DEBUG)
    personal = {"external_id": "citizen-4711-zhang", "monthly_income": 87654,
                "monthly_debt": 4321, "region": "CN-SH", "age": 37}
    body = application_body(applicant=personal)
    created = apply(body)
    assert created.status_code == 201
    apply(body, key="twice")                      # the same person again: cool-down
    client.post("/v1/applications", json=body, headers=borrower_app)   # no Idempotency-Key
    for lender in lenders:
        for routing in inbox(client, lender):
            decide(client, lender, routing["id"], offer_terms(clock))
    client.get(f"/v1/applications/{created.json['id']}/offers", headers=borrower_app)

    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "lendmatch.access" in logged
    for secret in ("citizen-4711-zhang", "87654", "4321"):
        assert secret not in logged
    assert "Bearer" not in logged and borrower_app["Authorization"][7:] not in logged


def test_an_unexpected_error_is_a_json_500_without_a_stack_trace(app, caplog):
    def boom():
        raise RuntimeError("something broke inside")

    app.add_url_rule("/boom", "boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False    # as in production, unlike TESTING
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.is_json and response.json["code"] == 500
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "something broke" not in text
    logged = [json.loads(JsonFormatter().format(r)) for r in caplog.records
              if r.levelno >= logging.ERROR]
    assert logged and logged[0]["request_id"] == response.headers["X-Request-Id"]
    assert "RuntimeError: something broke inside" in logged[0]["error"]


@pytest.mark.skipif(not POSTGRES_URL, reason="terminating a backend is PostgreSQL's")
def test_a_connection_killed_under_a_finished_request_is_not_a_500(app):
    # Found by bench/faults.py restart-postgres: the rollback when the request's session
    # closed failed on the dead connection, after the view had answered.
    def work_then_lose_the_connection():
        session = get_session()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        with app.extensions["lendmatch.engine"].connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return {"ok": True}

    app.add_url_rule("/lose", "lose", work_then_lose_the_connection)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    assert client.get("/lose").status_code == 200
    assert client.get("/readyz").status_code == 200      # the pool recovered
