"""Helpers for driving the institution side through HTTP (the ``clock`` and ``market``
fixtures are in conftest)."""

from datetime import UTC, datetime, timedelta

from core import keys
from core.db import get_session
from core.principal import Role, command_line
from feedback import invariants

# 10:00 in Shanghai, where the daily caps are counted.
START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def offer_terms(clock, **overrides) -> dict:
    return {"decision": "approve", "amount": 3000, "apr": 0.18, "term": 12,
            "term_unit": "month",
            "offer_expires_at": (clock.now + timedelta(days=1)).isoformat()} | overrides


def decline(*reasons) -> dict:
    return {"decision": "decline", "reasons": list(reasons or ["score_too_low"])}


def inbox(client, lender, **query) -> list[dict]:
    response = client.get("/v1/institution/routings", query_string=query,
                          headers=lender.key)
    assert response.status_code == 200, response.json
    return response.json["items"]


def only_pending(client, lender) -> dict:
    items = inbox(client, lender, status="pending")
    assert len(items) == 1, items
    return items[0]


def decide(client, lender, routing_id, body):
    return client.post(f"/v1/institution/routings/{routing_id}/decision", json=body,
                       headers=lender.key)


def broken_invariants(app) -> dict:
    with app.app_context():
        return {name: ids for name, ids in invariants.check(get_session()).items() if ids}


def ops_key(app) -> dict:
    with app.app_context():
        _, key = keys.create(get_session(), command_line("tests"), Role.OPS)
    return {"Authorization": f"Bearer {key}"}
