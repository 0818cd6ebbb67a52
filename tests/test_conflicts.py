"""Requests that PostgreSQL aborts to break a deadlock are run again by the service, so a
client sees an answer (a little later), not a 503 for a conflict it did not cause; other
database errors are not."""

import threading
import time

import pytest
from conftest import POSTGRES_URL
from journeys import broken_invariants, decide, offer_terms, only_pending
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import OperationalError

from core.db import get_session, rerun_on_conflict
from matching.models import Application, DailyUsage, UsageScope

USAGE = DailyUsage.__table__


@pytest.mark.skipif(not POSTGRES_URL, reason="row locks and deadlocks are PostgreSQL's")
def test_an_accept_caught_in_a_deadlock_is_run_again_and_succeeds(
        app, client, apply, borrower_app, clock, market, database_url, caplog):
    approving, waiting = market(2)
    created = apply().json
    assert {r["institution"]["id"] for r in created["routed"]} == {approving.id, waiting.id}
    routing = only_pending(client, approving)["id"]
    assert decide(client, approving, routing, offer_terms(clock)).status_code == 201
    (offer,) = client.get(f"/v1/applications/{created['id']}/offers",
                          headers=borrower_app).json

    # Another transaction holds the counter that accepting gives back (the waiting
    # institution's), and will then want the application the accept has locked. Its own
    # deadlock timeout is long, so PostgreSQL picks the accept to abort.
    other = create_engine(database_url).connect()
    other.execute(text("SET deadlock_timeout = '20s'"))
    other.execute(update(USAGE).where(USAGE.c.scope == UsageScope.INSTITUTION,
                                      USAGE.c.object_id == waiting.id)
                  .values(applications=USAGE.c.applications))
    answer = {}

    def accept():
        answer["response"] = app.test_client().post(
            f"/v1/applications/{created['id']}/offers/{offer['id']}/accept",
            headers=borrower_app)

    caplog.clear()
    accepting = threading.Thread(target=accept)
    accepting.start()
    try:
        _wait_until_a_request_waits_for_a_lock(other)
        other.execute(select(Application.id).where(Application.id == created["id"])
                      .with_for_update())        # the cycle: PostgreSQL aborts the accept
        other.commit()
    finally:
        accepting.join(timeout=30)
        other.close()

    response = answer["response"]
    assert response.status_code == 200, response.json
    assert response.json["status"] == "accepted"
    assert any("running the request again" in r.getMessage() and "DeadlockDetected"
               in r.getMessage() for r in caplog.records)
    statuses = {r["institution"]["id"]: r["status"] for r in client.get(
        f"/v1/applications/{created['id']}", headers=borrower_app).json["routed"]}
    assert statuses == {approving.id: "approved", waiting.id: "withdrawn"}
    with app.app_context():
        used = dict(get_session().execute(
            select(USAGE.c.object_id, USAGE.c.applications)
            .where(USAGE.c.scope == UsageScope.INSTITUTION)).all())
    assert used == {approving.id: 1, waiting.id: 0}      # given back once, not twice
    assert broken_invariants(app) == {}


def _wait_until_a_request_waits_for_a_lock(other, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waiting = other.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the accept never waited for the counter's lock")


class _DriverError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _Session:
    rollbacks = 0

    def rollback(self):
        self.rollbacks += 1


def _failing(sqlstate: str, times: int):
    calls = []

    def work():
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("UPDATE ...", {}, _DriverError(sqlstate))
        return "done"

    return work, calls


def test_work_is_run_again_only_after_a_conflict_and_at_most_three_times():
    session, pauses, reruns = _Session(), [], []
    work, calls = _failing("40P01", times=2)
    assert rerun_on_conflict(work, session, sleep=pauses.append,
                             on_rerun=lambda error, n: reruns.append(n)) == "done"
    assert (len(calls), session.rollbacks, reruns) == (3, 2, [2, 3])
    assert all(0.01 <= p <= 0.1 for p in pauses)

    work, calls = _failing("40001", times=3)
    with pytest.raises(OperationalError):
        rerun_on_conflict(work, _Session(), sleep=lambda s: None)
    assert len(calls) == 3

    work, calls = _failing("08006", times=1)        # the connection failed: not a conflict
    with pytest.raises(OperationalError):
        rerun_on_conflict(work, _Session(), sleep=lambda s: None)
    assert len(calls) == 1
