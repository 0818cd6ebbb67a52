"""Signed webhooks to a real HTTP server on localhost: verified signatures, a retry after a
500 with exponential backoff, and the delivery log."""

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import application_body
from journeys import broken_invariants, decide, inbox, offer_terms, only_pending, ops_key
from sqlalchemy import select

from core.db import new_session
from feedback import webhooks
from feedback.disclosure import webhook_payload
from feedback.webhooks import Sender
from matching.models import Application

SECRET = "whsec-test-0123456789abcdef"


class Receiver:
    """An institution's endpoint: answers with the next status in ``answers`` (then 200),
    ``delay`` seconds late, and keeps what it received."""

    def __init__(self, answers=(), delay: float = 0.0):
        self.answers = list(answers)
        self.received = []
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lendmatch"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    endpoint = Receiver(answers=[500])
    yield endpoint
    endpoint.close()


@pytest.fixture
def sender(app, clock):
    def make(**overrides) -> Sender:
        with app.app_context():
            return Sender.from_config(app.config, app.extensions["lendmatch.sessions"],
                                      webhook_payload, clock=clock, **overrides)

    return make


def test_a_routing_is_pushed_signed_and_retried_after_a_500(client, apply, clock, market,
                                                            receiver, sender, app):
    lender, other = market(2)
    client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                 json={"webhook_url": receiver.url, "webhook_secret": SECRET})
    apply()
    send = sender(retry_seconds=10)

    assert send.run_once() == {"delivered": 0, "retrying": 1, "failed": 0}
    assert len(receiver.received) == 1
    assert send.run_once() == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet
    clock.advance(seconds=10)
    assert send.run_once() == {"delivered": 1, "retrying": 0, "failed": 0}
    assert len(receiver.received) == 2

    headers, body = receiver.received[-1]
    assert webhooks.verify(SECRET, headers["Lendmatch-Signature"], body,
                           now=clock.now.timestamp())
    assert not webhooks.verify("another-secret-0123456789", headers["Lendmatch-Signature"],
                               body, now=clock.now.timestamp())
    assert not webhooks.verify(SECRET, headers["Lendmatch-Signature"], body + b" ",
                               now=clock.now.timestamp())
    # A captured request replayed much later is refused.
    assert not webhooks.verify(SECRET, headers["Lendmatch-Signature"], body,
                               now=clock.now.timestamp() + 3600)
    payload = json.loads(body)
    assert payload["type"] == "routing.created"
    assert payload["data"]["id"] == only_pending(client, lender)["id"]
    assert payload["data"]["applicant"]["ref"].startswith("ap_")
    assert "u-123" not in body.decode() and "external_id" not in body.decode()

    log = client.get(f"/v1/institutions/{lender.id}/webhook-deliveries", headers=lender.key)
    assert log.status_code == 200
    (delivery,) = log.json
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert client.get(f"/v1/institutions/{lender.id}/webhook-deliveries",
                      headers=other.key).status_code == 404
    assert client.get(f"/v1/institutions/{lender.id}/webhook-deliveries",
                      headers=ops_key(app)).json[0]["id"] == delivery["id"]
    events = client.get(f"/v1/applications/{payload_application(app)}/events",
                        headers=ops_key(app)).json
    assert [e["data"] for e in events if e["type"] == "delivered"] == [{"via": "webhook"}]
    assert broken_invariants(app) == {}


def payload_application(app) -> str:
    with app.app_context():
        return new_session().scalar(select(Application.id))


def test_backoff_doubles_and_a_dead_endpoint_is_given_up(client, apply, clock, market,
                                                        sender, app):
    (lender,) = market(1)
    dead = Receiver(answers=[503] * 10)
    try:
        client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                     json={"webhook_url": dead.url, "webhook_secret": SECRET})
        apply()
        send = sender(retry_seconds=5, max_attempts=4)
        waits = []
        for _ in range(4):
            outcome = send.run_once()
            log = client.get(f"/v1/institutions/{lender.id}/webhook-deliveries",
                             headers=lender.key).json[0]
            if log["next_attempt_at"]:
                due = datetime.fromisoformat(log["next_attempt_at"])
                waits.append((due - clock.now).total_seconds())
                clock.now = due
        assert waits == [5, 10, 20]
        assert outcome == {"delivered": 0, "retrying": 0, "failed": 1}
        assert (log["status"], log["attempts"]) == ("failed", 4)
    finally:
        dead.close()


def test_an_unreachable_endpoint_is_an_attempt_with_an_error(client, apply, clock, market,
                                                            sender, app):
    (lender,) = market(1)
    gone = Receiver()
    url = gone.url
    gone.close()
    client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                 json={"webhook_url": url, "webhook_secret": SECRET})
    apply()
    assert sender(timeout=1).run_once()["retrying"] == 1
    log = client.get(f"/v1/institutions/{lender.id}/webhook-deliveries",
                     headers=lender.key).json[0]
    assert log["last_status_code"] is None and log["last_error"]


def test_withdrawn_offers_are_pushed_to_their_institution(client, apply, borrower_app, clock,
                                                         market, receiver, sender, app):
    taken, withdrawn = market(2)
    receiver.answers.clear()
    client.patch(f"/v1/institutions/{withdrawn.id}", headers=ops_key(app),
                 json={"webhook_url": receiver.url, "webhook_secret": SECRET})
    created = apply().json
    decide(client, taken, only_pending(client, taken)["id"], offer_terms(clock, apr=0.12))
    decide(client, withdrawn, only_pending(client, withdrawn)["id"], offer_terms(clock))
    offers = client.get(f"/v1/applications/{created['id']}/offers", headers=borrower_app).json
    client.post(f"/v1/applications/{created['id']}/offers/{offers[0]['id']}/accept",
                headers=borrower_app)
    clock.advance(seconds=1)
    assert sender().run_once()["delivered"] == 2
    kinds = [json.loads(body)["type"] for _, body in receiver.received]
    assert kinds == ["routing.created", "offer.withdrawn"]
    withdrawn_offer = json.loads(receiver.received[1][1])["data"]
    assert withdrawn_offer["id"] == offers[1]["id"] and withdrawn_offer["status"] == "withdrawn"


def test_the_cli_sends_due_deliveries(client, apply, market, receiver, app, runner):
    (lender,) = market(1)
    receiver.answers.clear()
    client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                 json={"webhook_url": receiver.url, "webhook_secret": SECRET})
    apply()
    result = runner.invoke(args=["deliver-webhooks"])
    assert result.exit_code == 0 and "delivered 1" in result.output, result.output
    assert len(receiver.received) == 1


def test_one_run_sends_every_due_delivery_batch_after_batch(client, apply, market, receiver,
                                                            sender, app, clock):
    (lender,) = market(1)
    receiver.answers.clear()
    client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                 json={"webhook_url": receiver.url, "webhook_secret": SECRET})
    for n in range(7):
        apply(application_body(applicant={"external_id": f"person-{n}"}))
    clock.advance(seconds=1)
    assert sender(batch=3).run_until_idle(budget_seconds=60) == \
        {"delivered": 7, "retrying": 0, "failed": 0}
    assert len(receiver.received) == 7
    assert sender(batch=3).run_once() == {"delivered": 0, "retrying": 0, "failed": 0}


def test_a_slow_endpoint_delays_only_its_own_deliveries_which_keep_their_order(
        client, apply, market, sender, app, clock):
    slow_lender, fast_lender = market(2)
    slow, fast = Receiver(delay=2.0), Receiver()
    try:
        for lender, endpoint in ((slow_lender, slow), (fast_lender, fast)):
            client.patch(f"/v1/institutions/{lender.id}", headers=ops_key(app),
                         json={"webhook_url": endpoint.url, "webhook_secret": SECRET})
        for n in range(3):
            apply(application_body(applicant={"external_id": f"person-{n}"}))
            clock.advance(seconds=1)
        send = sender(timeout=0.5, retry_seconds=10)

        assert send.run_once() == {"delivered": 3, "retrying": 1, "failed": 0}
        assert len(fast.received) == 3
        # The slow one timed out once; its other two wait behind its retry instead of
        # piling onto it, even though they are due.
        assert len(slow.received) == 1
        assert send.run_once() == {"delivered": 0, "retrying": 0, "failed": 0}
        assert len(slow.received) == 1

        slow.delay = 0.0
        clock.advance(seconds=10)
        assert send.run_until_idle(budget_seconds=60) == \
            {"delivered": 3, "retrying": 0, "failed": 0}
        sent = [json.loads(body)["data"]["id"] for _, body in slow.received]
        assert sent[1:] == sorted(sent[1:]) and sent[0] == sent[1]   # retried first, in order
        assert [r["id"] for r in inbox(client, slow_lender)] == sent[1:]
    finally:
        slow.close()
        fast.close()
