"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL when
``LENDMATCH_TEST_DATABASE_URL`` names one), the app, its clients, and keys per role."""

import itertools
import os
import shutil
import uuid
from types import SimpleNamespace

import pytest
from journeys import Clock
from sqlalchemy import inspect, text

from app import create_app
from core import keys
from core.config import normalise_database_url
from core.db import get_session, make_engine
from core.principal import Role, command_line

POSTGRES_URL = os.environ.get("LENDMATCH_TEST_DATABASE_URL")


def migrate(url: str) -> None:
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    app.extensions["lendmatch.engine"].dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """A database migrated to head once per run; each test gets a clean copy of it."""
    if POSTGRES_URL:
        url = normalise_database_url(POSTGRES_URL)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        migrate(url)
        return url
    path = tmp_path_factory.mktemp("template") / "lendmatch.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(migrated_template, tmp_path):
    if POSTGRES_URL:
        engine = make_engine(migrated_template)
        with engine.begin() as connection:
            tables = [t for t in inspect(connection).get_table_names() if t != "alembic_version"]
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return migrated_template
    path = tmp_path / "lendmatch.sqlite"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def fresh_database_url(tmp_path):
    """An empty database of the kind under test, dropped afterwards."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    base = normalise_database_url(POSTGRES_URL)
    name = f"lendmatch_fresh_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def app(database_url):
    # Exploration off (routing is deterministic unless a test turns it on), and models
    # checked for new versions on every request.
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "MODEL_REFRESH_SECONDS": 0.0})
    yield app
    app.extensions["lendmatch.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_key(app):
    """Create a key and return the headers that present it."""

    def make(role: Role, institution_id: int | None = None) -> dict:
        with app.app_context():
            _, key = keys.create(get_session(), command_line("tests"), role, institution_id)
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def ops(make_key):
    return make_key(Role.OPS)


@pytest.fixture
def borrower_app(make_key):
    return make_key(Role.BORROWER_APP)


def institution_body(**overrides) -> dict:
    body = {"name": "Huaxin Consumer Finance", "kind": "consumer_finance",
            "licensed_regions": ["CN-JS", "CN-SH", "CN-ZJ"], "decision_sla_seconds": 120,
            "daily_application_cap": 5000, "daily_funding_budget": 20_000_000}
    return body | overrides


def product_body(institution_id: int, **overrides) -> dict:
    body = {"institution_id": institution_id, "name": "Huaxin Cash Loan Flex",
            "type": "cash_loan", "amount_min": 1000, "amount_max": 30000, "term_min": 3,
            "term_max": 12, "term_unit": "month", "apr_min": 0.12, "apr_max": 0.24,
            "rules": {"age_min": 20, "age_max": 55, "income_min": 3000, "score_min": None,
                      "accepts_no_score": True, "dti_max": 0.6, "regions": ["CN-SH"],
                      "regions_excluded": [], "employment": ["salaried"],
                      "channels": ["app", "ecommerce"], "borrowers": "any"},
            "daily_application_cap": 500, "daily_funding_cap": 1_000_000, "weight": 1.0}
    return body | overrides


@pytest.fixture
def create_institution(client, ops):
    def create(**overrides) -> dict:
        response = client.post("/v1/institutions", json=institution_body(**overrides),
                               headers=ops)
        assert response.status_code == 201, response.json
        return response.json

    return create


@pytest.fixture
def create_product(client, ops):
    def create(institution_id: int, **overrides) -> dict:
        response = client.post("/v1/products", json=product_body(institution_id, **overrides),
                               headers=ops)
        assert response.status_code == 201, response.json
        return response.json

    return create


def application_body(applicant=None, request=None, **overrides) -> dict:
    """The issue's example application, with parts overridden."""
    body = {
        "applicant": {"external_id": "u-123", "age": 29, "region": "CN-SH",
                      "monthly_income": 8000, "employment": "salaried", "credit_score": None,
                      "monthly_debt": 1200, "first_loan": True,
                      "signals": {"device_age_days": 400}},
        "request": {"amount": 3000, "term": 12, "term_unit": "month",
                    "purpose": "consumption"},
        "channel": "ecommerce",
        "consent": {"version": "2026-01", "given_at": "2026-11-21T10:00:00Z"},
    }
    body["applicant"].update(applicant or {})
    body["request"].update(request or {})
    return body | overrides


@pytest.fixture
def apply(client, borrower_app):
    """POST an application with a new Idempotency-Key (or the one given)."""
    counter = iter(range(1, 10**9))

    def post(body=None, *, key=None, headers=None):
        headers = {**(headers or borrower_app),
                   "Idempotency-Key": key or f"test-{next(counter)}"}
        return client.post("/v1/applications", json=body or application_body(),
                           headers=headers)

    return post


@pytest.fixture
def clock(app):
    """The routing service's clock, under the test's control."""
    ticking = Clock()
    app.extensions["lendmatch.routing"].clock = ticking
    return ticking


@pytest.fixture
def market(create_institution, create_product, make_key):
    """``market(n)``: n institutions, each with one product the example applicant fits
    and an institution key."""

    numbers = itertools.count()

    def build(n: int = 3, **institution) -> list[SimpleNamespace]:
        lenders = []
        for i in itertools.islice(numbers, n):
            created = create_institution(name=f"Lender {i}", **institution)
            product = create_product(created["id"], name=f"Cash Loan {i}")
            lenders.append(SimpleNamespace(id=created["id"], product=product["id"],
                                           key=make_key(Role.INSTITUTION, created["id"]),
                                           name=f"Lender {i}"))
        return lenders

    return build
