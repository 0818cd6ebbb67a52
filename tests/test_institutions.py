import json

import pytest
from conftest import institution_body


def count(client, ops, path="/v1/institutions"):
    return json.loads(client.get(path, headers=ops).headers["X-Pagination"])["total"]


def test_create_then_read_back(client, ops):
    body = institution_body(webhook_url="https://lender.example/hooks",
                            webhook_secret="s3cret-s3cret-s3cret")
    created = client.post("/v1/institutions", json=body, headers=ops)
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    institution = created.json
    assert institution["version"] == 1
    assert institution["status"] == "active"
    assert institution["has_webhook_secret"] is True
    assert "webhook_secret" not in institution

    read = client.get(f"/v1/institutions/{institution['id']}", headers=ops)
    assert read.status_code == 200
    assert read.json == institution
    for field in ("name", "kind", "licensed_regions", "decision_sla_seconds",
                  "daily_application_cap", "daily_funding_budget", "webhook_url"):
        assert read.json[field] == body[field]


def test_list_paginates_and_filters(client, ops, create_institution):
    for n in range(7):
        create_institution(name=f"Bank {n}", kind="bank" if n % 2 else "microlender",
                           status="paused" if n == 3 else "active",
                           licensed_regions=["CN-GD"] if n < 2 else ["CN-SH"])
    first = client.get("/v1/institutions?page=1&page_size=3", headers=ops)
    assert [i["name"] for i in first.json] == ["Bank 0", "Bank 1", "Bank 2"]
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["total"] == 7 and meta["total_pages"] == 3 and meta["next_page"] == 2
    last = client.get("/v1/institutions?page=3&page_size=3", headers=ops)
    assert [i["name"] for i in last.json] == ["Bank 6"]

    banks = client.get("/v1/institutions?kind=bank", headers=ops).json
    assert [i["name"] for i in banks] == ["Bank 1", "Bank 3", "Bank 5"]
    paused = client.get("/v1/institutions?status=paused", headers=ops).json
    assert [i["name"] for i in paused] == ["Bank 3"]
    guangdong = client.get("/v1/institutions?region=CN-GD", headers=ops)
    assert [i["name"] for i in guangdong.json] == ["Bank 0", "Bank 1"]
    assert json.loads(guangdong.headers["X-Pagination"])["total"] == 2


@pytest.mark.parametrize("field, value, complaint", [
    ("kind", "hedge_fund", "Must be one of"),
    ("licensed_regions", ["CN-SH", "US-CA"], "unknown region"),
    ("licensed_regions", [], "Shorter than minimum"),
    ("decision_sla_seconds", 0, "greater than or equal to 1"),
    ("daily_application_cap", -1, "greater than or equal to 0"),
    ("daily_funding_budget", -5, "greater than or equal to 0"),
    ("daily_application_cap", 10**30, "less than or equal to"),
    ("daily_application_cap", "100", "Not a valid integer"),
    ("webhook_url", "ftp://lender.example", "Not a valid URL"),
    ("webhook_secret", "short", "Length must be between"),
    ("name", "", "Length must be between"),
    ("surprise", 1, "Unknown field"),
])
def test_bad_input_is_422_naming_the_field_and_writes_nothing(client, ops, field, value,
                                                             complaint):
    response = client.post("/v1/institutions", json=institution_body(**{field: value}),
                           headers=ops)
    assert response.status_code == 422
    assert set(response.json) >= {"code", "status", "errors"}
    assert complaint in json.dumps(response.json["errors"]["json"][field])
    assert count(client, ops) == 0
    assert count(client, ops, "/v1/audit?object_type=institution") == 0


def test_missing_required_fields_are_each_named(client, ops):
    response = client.post("/v1/institutions", json={}, headers=ops)
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"name", "kind", "licensed_regions"}


def test_duplicate_name_is_409(client, ops, create_institution):
    create_institution(name="Twin Bank")
    response = client.post("/v1/institutions", json=institution_body(name="Twin Bank"),
                           headers=ops)
    assert response.status_code == 409
    assert "Twin Bank" in response.json["message"]
    assert count(client, ops) == 1


def test_patch_changes_bump_the_version_and_are_audited(client, ops, create_institution):
    institution = create_institution()
    response = client.patch(f"/v1/institutions/{institution['id']}", headers=ops,
                            json={"status": "paused", "decision_sla_seconds": 60,
                                  "reason": "lender asked for a pause during migration"})
    assert response.status_code == 200
    assert response.json["status"] == "paused"
    assert response.json["version"] == 2
    assert response.headers["ETag"] == '"2"'

    entries = client.get(f"/v1/audit?object_type=institution&object_id={institution['id']}",
                         headers=ops).json
    update = entries[0]
    assert update["action"] == "update"
    assert update["before"] == {"status": "active", "decision_sla_seconds": 120, "version": 1}
    assert update["after"] == {"status": "paused", "decision_sla_seconds": 60, "version": 2}
    assert update["reason"] == "lender asked for a pause during migration"
    assert update["actor_role"] == "ops"


def test_patch_with_no_real_change_keeps_the_version(client, ops, create_institution):
    institution = create_institution()
    response = client.patch(f"/v1/institutions/{institution['id']}", headers=ops,
                            json={"decision_sla_seconds": institution["decision_sla_seconds"]})
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert count(client, ops, "/v1/audit?action=update&object_type=institution") == 0


@pytest.mark.parametrize("change", [{"status": "paused"}, {"daily_application_cap": 10},
                                    {"daily_funding_budget": 1000}])
def test_status_cap_and_budget_changes_need_a_reason(client, ops, create_institution, change):
    institution = create_institution()
    response = client.patch(f"/v1/institutions/{institution['id']}", json=change,
                            headers=ops)
    assert response.status_code == 422
    assert "reason" in response.json["errors"]["json"]
    again = client.get(f"/v1/institutions/{institution['id']}", headers=ops).json
    assert again == institution


def test_stale_if_match_is_409_and_changes_nothing(client, ops, create_institution):
    institution = create_institution()
    url = f"/v1/institutions/{institution['id']}"
    first = client.patch(url, json={"decision_sla_seconds": 90}, headers={**ops,
                                                                          "If-Match": '"1"'})
    assert first.status_code == 200
    stale = client.patch(url, json={"decision_sla_seconds": 30},
                         headers={**ops, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert "current version is 2" in stale.json["message"]
    assert client.get(url, headers=ops).json["decision_sla_seconds"] == 90


def test_empty_patch_is_422(client, ops, create_institution):
    institution = create_institution()
    response = client.patch(f"/v1/institutions/{institution['id']}", json={}, headers=ops)
    assert response.status_code == 422


def test_unknown_institution_is_404(client, ops):
    assert client.get("/v1/institutions/999", headers=ops).status_code == 404
    response = client.patch("/v1/institutions/999", json={"name": "x"}, headers=ops)
    assert response.status_code == 404


def test_regions_are_kept_as_a_sorted_set(create_institution):
    institution = create_institution(licensed_regions=["CN-ZJ", "CN-SH", "CN-ZJ"])
    assert institution["licensed_regions"] == ["CN-SH", "CN-ZJ"]


def test_rotating_the_webhook_secret_is_audited_without_the_secret(client, ops,
                                                                  create_institution):
    institution = create_institution(webhook_secret="first-secret-0123456789")
    url = f"/v1/institutions/{institution['id']}"
    response = client.patch(url, json={"webhook_secret": "second-secret-0123456789",
                                       "reason": "rotation"}, headers=ops)
    assert response.status_code == 200 and response.json["version"] == 2
    entries = client.get(f"/v1/audit?object_type=institution&object_id={institution['id']}",
                         headers=ops)
    rotation = entries.json[0]
    assert set(rotation["after"]) == {"webhook_secret_fingerprint", "version"}
    assert rotation["before"]["webhook_secret_fingerprint"] != \
        rotation["after"]["webhook_secret_fingerprint"]
    assert "secret-0123456789" not in entries.get_data(as_text=True)
