"""A small market with a few days of history for the ops console's tests: routings,
decisions, offers taken, loans funded, some repaid and some bad, and the learning jobs
run once."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from journeys import START, Clock

from app import create_app
from core.db import new_session
from jobs import runner
from simulation import setup
from simulation.driver import fund_and_resolve, take_offers
from simulation.market import Policy

DAYS = 3
ARRIVALS_PER_DAY = 20


@dataclass
class History:
    app: object
    clock: Clock
    lenders: list
    run: object


def console_app(database_url, **config):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "MODEL_REFRESH_SECONDS": 0.0, "PRODUCTS_PER_APPLICATION": 2,
                      "SECRET_KEY": "tests-only-secret", **config})
    # Consents are refused if given in the future: the history ends before the real today.
    clock = Clock(START - timedelta(days=DAYS))
    app.extensions["lendmatch.routing"].clock = clock
    return app, clock


def build_history(app, clock) -> History:
    policies = [Policy(base=1.5, apr=0.15), Policy(base=0.0, apr=0.18),
                Policy(base=-1.0, apr=0.2), Policy(declines_all=True, apr=0.22)]
    lenders, run = setup.market(app, policies, seed=7, products_per=2)
    with app.app_context():
        session = new_session()
        for day in range(DAYS):
            for _ in range(ARRIVALS_PER_DAY):
                run.arrive(session)
            run.decide_pending(session)
            taken = take_offers(run, session)
            fund_and_resolve(run, session, taken, bad=lambda offer: offer.apr >= 0.18)
            if day < DAYS - 1:
                clock.advance(days=1)
        session.close()
    for job in ("update-models", "recompute-weights", "funnel-snapshot"):
        assert runner.run(app, job).status == "done"
    return History(app, clock, lenders, run)


@pytest.fixture
def history(database_url):
    app, clock = console_app(database_url)
    yield build_history(app, clock)
    app.extensions["lendmatch.engine"].dispose()
