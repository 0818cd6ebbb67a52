"""The scheduler's jobs: one run per slot across schedulers, the PostgreSQL advisory lock,
idempotency, failures recorded, and the ``jobs`` and ``scheduler`` commands."""

import threading
from datetime import UTC, datetime

import pytest
from journeys import Clock
from sqlalchemy import func, select, text

from app import create_app
from core.db import make_engine, new_session
from feedback.models import Event
from jobs import runner, scheduler
from jobs.models import JobRun
from jobs.registry import JOBS
from learning.models import (
    CapacityPriceSolve,
    FunnelSnapshot,
    LearnedModel,
    ProductWeightVersion,
)
from matching.models import DailyUsage
from simulation import setup
from simulation.driver import fund_and_resolve, take_offers
from simulation.market import Policy

REQUIRED = {"update-models", "recompute-weights", "capacity-prices", "expire",
            "reset-daily-caps", "funnel-snapshot"}


@pytest.fixture
def two_apps(database_url):
    apps = []
    for _ in range(2):
        app = create_app({"DATABASE_URL": database_url, "TESTING": True,
                          "EXPLORATION_RATE": 0.0, "PRODUCTS_PER_APPLICATION": 2,
                          "MODEL_REFRESH_SECONDS": 0.0})
        app.extensions["lendmatch.routing"].clock = Clock()
        apps.append(app)
    yield apps
    for app in apps:
        app.extensions["lendmatch.engine"].dispose()


def busy_market(app):
    """Applications, decisions, accepted offers and resolved loans: every job has work."""
    _, run = setup.market(app, [Policy(base=b) for b in (1.0, 0.0, -1.0)], seed=5,
                          product_cap=400, cap=1000)
    with app.app_context():
        session = new_session()
        for _ in range(40):
            run.arrive(session)
        run.decide_pending(session)
        taken = take_offers(run, session)
        fund_and_resolve(run, session, taken[:10], bad=lambda offer: offer.apr > 0.17)
        session.close()
    return run


def state(app) -> dict:
    """Everything a job writes, to compare before and after."""
    with app.app_context():
        session = new_session()
        tables = (LearnedModel, ProductWeightVersion, CapacityPriceSolve, FunnelSnapshot,
                  DailyUsage, Event)
        counts = {t.__tablename__: session.scalar(select(func.count()).select_from(t))
                  for t in tables}
        counts["funnels"] = sorted((str(r.day), r.institution_id, sorted(r.counts.items()))
                                   for r in session.scalars(select(FunnelSnapshot)))
        counts["weights"] = sorted((r.product_id, r.version, r.multiplier) for r in
                                   session.scalars(select(ProductWeightVersion)))
        session.close()
    return counts


def test_the_required_jobs_exist():
    assert set(JOBS) >= REQUIRED


def test_running_each_job_twice_changes_nothing_the_second_time(two_apps):
    app, _ = two_apps
    busy_market(app)
    for name in ("update-models", "recompute-weights", "capacity-prices", "expire",
                 "reset-daily-caps", "funnel-snapshot"):
        first = runner.run(app, name)
        assert first.status == "done", first.error
        after_first = state(app)
        second = runner.run(app, name)
        assert second.status == "done", second.error
        assert state(app) == after_first, name
    # And the first runs did real work.
    with app.app_context():
        session = new_session()
        kinds = set(session.scalars(select(LearnedModel.kind)))
        assert kinds == {"approval", "takeup", "repayment"}
        assert session.scalar(select(func.count()).select_from(CapacityPriceSolve)) == 1
        session.close()


def test_two_schedulers_never_run_a_job_twice_for_one_slot(two_apps):
    first, second = two_apps
    busy_market(first)
    slot = scheduler.slot_for(first, JOBS["update-models"],
                              first.extensions["lendmatch.routing"].clock())
    barrier = threading.Barrier(2)
    outcomes = []

    def fire(app):
        barrier.wait()
        outcomes.append(runner.run(app, "update-models", slot=slot))

    threads = [threading.Thread(target=fire, args=(app,)) for app in two_apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("done") == 1, statuses
    assert set(statuses) <= {"done", "already_ran", "locked"}
    # Later, a scheduler that wakes up late for the same slot leaves it too.
    assert runner.run(second, "update-models", slot=slot).status == "already_ran"
    with first.app_context():
        session = new_session()
        runs = session.scalars(select(JobRun).where(JobRun.job == "update-models")).all()
        models = session.scalar(select(func.count()).select_from(LearnedModel)
                                .where(LearnedModel.kind == "approval"))
        session.close()
    assert [(r.slot, r.status) for r in runs] == [(slot, "done")]
    assert models == 1


def test_a_job_held_by_another_runner_is_skipped_on_postgresql(two_apps):
    app, _ = two_apps
    engine = app.extensions["lendmatch.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serialises writers instead")
    other = make_engine(str(engine.url.render_as_string(hide_password=False)))
    with other.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"),
                           {"k": runner.lock_key("update-models")})
        outcome = runner.run(app, "update-models")
        connection.execute(text("SELECT pg_advisory_unlock(:k)"),
                           {"k": runner.lock_key("update-models")})
    other.dispose()
    assert outcome.status == "locked"
    assert runner.run(app, "update-models").status == "done"


def test_a_failing_job_is_recorded_with_its_error(two_apps, monkeypatch):
    app, _ = two_apps
    monkeypatch.setitem(JOBS, "funnel-snapshot", JOBS["funnel-snapshot"].__class__(
        "funnel-snapshot", "broken", 900, False,
        lambda *_: (_ for _ in ()).throw(RuntimeError("disk on fire"))))
    outcome = runner.run(app, "funnel-snapshot")
    assert outcome.status == "failed" and "disk on fire" in outcome.error
    with app.app_context():
        session = new_session()
        row = session.scalar(select(JobRun).where(JobRun.job == "funnel-snapshot"))
        session.close()
    assert row.status == "failed" and "disk on fire" in row.error and row.finished_at


def test_jobs_list_and_run_from_the_command_line(two_apps):
    app, _ = two_apps
    cli = app.test_cli_runner()
    listing = cli.invoke(args=["jobs", "list"])
    assert listing.exit_code == 0, listing.output
    for name in REQUIRED:
        assert name in listing.output
    assert "never run" in listing.output
    ran = cli.invoke(args=["jobs", "run", "funnel-snapshot"])
    assert ran.exit_code == 0, ran.output
    assert "funnel-snapshot: done" in ran.output and '"applications": 0' in ran.output
    assert "last done" in cli.invoke(args=["jobs", "list"]).output
    unknown = cli.invoke(args=["jobs", "run", "make-coffee"])
    assert unknown.exit_code == 2 and "make-coffee" in unknown.output


def test_the_scheduler_schedules_every_job_once(two_apps):
    app, _ = two_apps
    built = scheduler.build(app, echo=lambda *_: None)
    assert sorted(job.id for job in built.get_jobs()) == sorted(JOBS)
    midnight = next(j for j in built.get_jobs() if j.id == "reset-daily-caps")
    # Midnight in Shanghai is 16:00 UTC.
    after = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert midnight.trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 21, 16, 0, tzinfo=UTC)
    expire = next(j for j in built.get_jobs() if j.id == "expire")
    assert expire.trigger.interval.total_seconds() == JOBS["expire"].every_seconds
