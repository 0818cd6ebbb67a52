"""Requests per API key per minute, across every worker (counted in the database)."""

import pytest
from sqlalchemy import func, select

from app import create_app
from core import rate_limits
from core.errors import RateLimited
from core.rate_limits import RateWindow


@pytest.fixture
def app(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True,
                      "RATE_LIMIT_PER_MINUTE": 3})
    yield app
    app.extensions["lendmatch.engine"].dispose()


def test_a_key_over_its_limit_gets_429_with_retry_after_and_others_do_not(client, make_key):
    from core.principal import Role

    busy, quiet = make_key(Role.OPS), make_key(Role.OPS)
    assert [client.get("/v1/products", headers=busy).status_code for _ in range(3)] == \
        [200, 200, 200]
    refused = client.get("/v1/products", headers=busy)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json["code"] == 429
    assert "3 requests a minute" in refused.json["message"]
    # Writes are refused before they do anything.
    created = client.post("/v1/institutions", headers=busy, json={"name": "x"})
    assert created.status_code == 429
    assert client.get("/v1/products", headers=quiet).status_code == 200


def test_the_limit_opens_again_in_the_next_window_and_old_windows_are_dropped(app):
    engine = app.extensions["lendmatch.engine"]
    start = 1_800_000_000.0          # the start of a window (divisible by 60)
    for second in range(3):
        rate_limits.take(engine, 7, 3, now=start + second)
    with pytest.raises(RateLimited) as refused:
        rate_limits.take(engine, 7, 3, now=start + 45.5)
    assert refused.value.headers == {"Retry-After": "15"}
    rate_limits.take(engine, 7, 3, now=start + 60)     # a new window
    with engine.connect() as connection:
        windows = connection.execute(select(RateWindow.window, RateWindow.requests)
                                     .where(RateWindow.key_id == 7)).all()
    assert windows == [(int(start // 60) + 1, 1)]


def test_zero_turns_the_limit_off(app):
    engine = app.extensions["lendmatch.engine"]
    for _ in range(10):
        rate_limits.take(engine, 8, 0)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(RateWindow)) == 0


def test_the_limit_is_documented_on_every_operation(client):
    spec = client.get("/openapi.json").json
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                assert "429" in operation["responses"], (method, path)
                assert "Retry-After" in operation["responses"]["429"]["headers"]
