"""Every write to an institution or product moves the catalogue version; reads do not."""

from core.db import get_session
from products import catalogue_version


def version(app) -> int:
    with app.app_context():
        return catalogue_version.current(get_session())


def test_writes_bump_the_version_and_reads_do_not(app, client, ops, create_institution,
                                                  create_product):
    assert version(app) == 0
    lender = create_institution()
    after_institution = version(app)
    assert after_institution > 0
    product = create_product(lender["id"])
    after_product = version(app)
    assert after_product > after_institution

    client.get("/v1/products", headers=ops)
    client.get(f"/v1/institutions/{lender['id']}", headers=ops)
    assert version(app) == after_product

    client.patch(f"/v1/products/{product['id']}", json={"weight": 2.0, "reason": "test"},
                 headers=ops)
    after_weight = version(app)
    assert after_weight > after_product
    client.patch(f"/v1/institutions/{lender['id']}", json={"decision_sla_seconds": 60},
                 headers=ops)
    assert version(app) > after_weight


def test_a_refused_change_does_not_bump_it(app, client, ops, create_institution,
                                           create_product):
    lender = create_institution()
    product = create_product(lender["id"])
    before = version(app)
    refused = client.patch(f"/v1/products/{product['id']}", json={"apr_max": 0.5},
                           headers=ops)
    assert refused.status_code == 422
    assert version(app) == before


def test_seeding_the_demo_bumps_it(app, runner):
    assert runner.invoke(args=["seed-demo", "--no-keys"]).exit_code == 0
    assert version(app) > 0
