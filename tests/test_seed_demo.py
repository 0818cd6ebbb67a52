from collections import Counter

import pytest
from sqlalchemy import select

from core.db import get_session
from core.regions import MAINLAND
from lenders.models import Institution
from products.models import Product, TermUnit


def catalogue(app):
    """Everything a user could see of the catalogue, minus ids and timestamps."""
    with app.app_context():
        session = get_session()
        institutions = {i.id: i for i in session.scalars(select(Institution))}
        return sorted(
            (institutions[p.institution_id].name, institutions[p.institution_id].kind.value,
             tuple(institutions[p.institution_id].licensed_regions), p.name, p.type.value,
             p.amount_min, p.amount_max, p.term_min, p.term_max, p.term_unit.value,
             p.apr_min, p.apr_max, tuple(sorted((k, str(v)) for k, v in p.rules.items())),
             p.daily_application_cap, p.daily_funding_cap, p.status.value)
            for p in session.scalars(select(Product))
        )


@pytest.fixture
def seeded(app, runner):
    result = runner.invoke(args=["seed-demo", "--seed", "11"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_demo_catalogue_is_shaped_like_the_market(app, seeded):
    assert "seeded" in seeded
    with app.app_context():
        session = get_session()
        institutions = session.scalars(select(Institution)).all()
        products = session.scalars(select(Product)).all()
    assert len(institutions) >= 120
    assert len(products) >= 450
    assert {i.kind.value for i in institutions} == {"bank", "consumer_finance", "microlender",
                                                    "trust", "other"}
    assert {p.type.value for p in products} == {"cash_loan", "instalment", "revolving_line",
                                                "goods_instalment"}
    assert min(p.amount_min for p in products) == 500
    assert max(p.amount_max for p in products) == 200_000
    days = [p for p in products if p.term_unit == TermUnit.DAY]
    months = [p for p in products if p.term_unit == TermUnit.MONTH]
    assert min(p.term_min for p in days) == 7
    assert max(p.term_max for p in months) == 36
    assert min(p.apr_min for p in products) >= 0.072
    assert max(p.apr_max for p in products) <= 0.24
    assert sum(p.accepts_no_score for p in products) > 0.6 * len(products)
    served = {r for i in institutions for r in i.licensed_regions}
    assert served == set(MAINLAND)
    assert len({(p.age_min, p.income_min, p.score_min, p.dti_max) for p in products}) > 50
    assert Counter(p.status.value for p in products)["active"] > 0.9 * len(products)


def test_it_prints_working_demo_keys_and_a_curl(client, seeded):
    lines = seeded.splitlines()
    ops_key = next(line.split()[1] for line in lines if line.strip().startswith("ops "))
    assert "curl" in seeded
    response = client.get("/v1/products?page_size=1",
                          headers={"Authorization": f"Bearer {ops_key}"})
    assert response.status_code == 200


def test_the_same_seed_gives_the_same_catalogue(app, seeded, fresh_database_url):
    from app import create_app

    other = create_app({"DATABASE_URL": fresh_database_url})
    runner = other.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["seed-demo", "--seed", "11", "--no-keys"]).exit_code == 0
    assert catalogue(other) == catalogue(app)
    other.extensions["lendmatch.engine"].dispose()


def test_another_seed_gives_another_catalogue():
    from products.demo import generate

    assert generate(1) == generate(1)
    assert generate(1) != generate(2)


def test_seeding_twice_does_not_duplicate(app, runner, seeded):
    first = catalogue(app)
    again = runner.invoke(args=["seed-demo", "--seed", "11", "--no-keys"])
    assert again.exit_code == 0
    assert "not seeding again" in again.output
    assert catalogue(app) == first


def test_seeding_an_unmigrated_database_says_what_to_do(fresh_database_url):
    from app import create_app

    app = create_app({"DATABASE_URL": fresh_database_url})
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    app.extensions["lendmatch.engine"].dispose()
    assert result.exit_code != 0
    assert "db upgrade" in result.output


def test_the_catalogue_can_be_sized_for_benchmarks(app, runner):
    result = runner.invoke(args=["seed-demo", "--institutions", "20", "--products", "90",
                                 "--no-keys"])
    assert result.exit_code == 0, result.output
    assert "seeded 20 institutions and 90 products" in result.output
    with app.app_context():
        kinds = Counter(i.kind.value for i in get_session().scalars(select(Institution)))
    assert set(kinds) == {"bank", "consumer_finance", "microlender", "trust", "other"}
    too_few = runner.invoke(args=["seed-demo", "--institutions", "2"])
    assert too_few.exit_code != 0 and "--institutions" in too_few.output
