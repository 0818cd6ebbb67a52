from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import get_session


def test_every_change_is_logged_with_who_what_when_and_why(client, ops, create_institution,
                                                           create_product):
    before = datetime.now(UTC) - timedelta(seconds=1)
    lender = create_institution()
    product = create_product(lender["id"])
    client.patch(f"/v1/products/{product['id']}", json={"status": "paused",
                                                        "reason": "fraud spike"}, headers=ops)
    entries = client.get("/v1/audit?object_type=product", headers=ops).json
    assert [e["action"] for e in entries] == ["update", "create"]
    update, create = entries
    assert create["before"] is None and create["after"]["name"] == product["name"]
    assert update["before"]["status"] == "active" and update["after"]["status"] == "paused"
    assert update["reason"] == "fraud spike"
    assert update["actor"].startswith("key:") and update["actor_role"] == "ops"
    assert datetime.fromisoformat(update["at"]) >= before


def test_audit_filters_by_object_and_time(client, ops, create_institution):
    first = create_institution(name="First")
    cut = datetime.now(UTC)
    second = create_institution(name="Second")

    def ids(query):
        response = client.get(f"/v1/audit?object_type=institution&{query}", headers=ops)
        assert response.status_code == 200, response.json
        return [e["object_id"] for e in response.json]

    assert ids(f"object_id={first['id']}") == [str(first["id"])]
    assert ids(f"since={quote(cut.isoformat())}") == [str(second["id"])]
    assert ids(f"until={quote(cut.isoformat())}") == [str(first["id"])]
    backwards = client.get(f"/v1/audit?since={quote(cut.isoformat())}"
                           f"&until={quote((cut - timedelta(hours=1)).isoformat())}",
                           headers=ops)
    assert backwards.status_code == 422 and "until" in backwards.json["errors"]["query"]
    naive = client.get("/v1/audit?since=2026-01-01T00:00:00", headers=ops)
    assert naive.status_code == 422 and "since" in naive.json["errors"]["query"]


@pytest.mark.parametrize("statement", ["UPDATE audit_entries SET reason = 'rewritten'",
                                       "DELETE FROM audit_entries"])
def test_the_database_refuses_to_rewrite_history(app, create_institution, statement):
    create_institution()
    with app.app_context():
        session = get_session()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM audit_entries")).scalar() >= 1
