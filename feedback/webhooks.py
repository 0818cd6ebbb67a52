"""Signed webhooks to institutions.

A delivery is written in the same transaction as the change it announces, so none is
lost and none announces a change that rolled back. A sender (``flask --app app
deliver-webhooks``; the scheduler's job later) posts each due delivery to the
institution's URL with

    Lendmatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

and retries any non-2xx answer or timeout after ``RETRY · 2^(attempt-1)`` seconds (at
most an hour) until ``MAX_ATTEMPTS``, then marks it failed. Each institution gets its
deliveries in the order they were made; institutions are sent to side by side, so a slow
or failing endpoint delays only its own, and while one of its deliveries waits for a
retry the rest wait behind it (one request per backoff to an endpoint that is down).
Every attempt is logged; ops and the institution read the log. The body is built when it
is sent, from the same view the institution's API gives, so it never holds more than the
institution may see.
"""

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.db import transaction, utcnow
from core.ids import new_id
from feedback.events import mark_delivered
from feedback.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from lenders.models import Institution

ROUTING_CREATED = "routing.created"
ROUTING_WITHDRAWN = "routing.withdrawn"
ROUTING_EXPIRED = "routing.expired"
OFFER_ACCEPTED = "offer.accepted"
OFFER_WITHDRAWN = "offer.withdrawn"
OFFER_EXPIRED = "offer.expired"

SIGNATURE_HEADER = "Lendmatch-Signature"
LONGEST_WAIT = timedelta(hours=1)
_INSERT = insert(WebhookDelivery.__table__)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance_seconds: int = 300) -> bool:
    """What an institution runs on receipt: the signature matches and is recent (which
    stops a captured request being replayed later)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    expected = sign(secret, timestamp, body)
    return (abs(now - timestamp) <= tolerance_seconds
            and hmac.compare_digest(expected, f"t={timestamp},v1={parts.get('v1', '')}"))


def delivery(institution_id: int, event_type: str, object_id: str, now: datetime) -> dict:
    return {"id": new_id(), "institution_id": institution_id, "event_type": event_type,
            "object_id": object_id, "status": DeliveryStatus.PENDING, "attempts": 0,
            "next_attempt_at": now, "created_at": now}


def enqueue(session: Session, rows: list[dict]) -> None:
    if rows:
        session.connection().execute(_INSERT, rows)


def notify(session: Session, institution_id: int, event_type: str, object_id: str,
           now: datetime) -> None:
    """Enqueue one delivery if the institution takes webhooks (a URL and a secret)."""
    url, secret = session.execute(
        select(Institution.webhook_url, Institution.webhook_secret)
        .where(Institution.id == institution_id)).one()
    if url and secret:
        enqueue(session, [delivery(institution_id, event_type, object_id, now)])


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None


def http_post(url: str, body: bytes, headers: dict, timeout: float) -> Answer:
    """POST with the standard library; any network failure is an answer, not a raise."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, None)
    except urllib.error.HTTPError as error:
        return Answer(error.code, None)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, f"{type(error).__name__}: {reason}"[:500])


Post = Callable[[str, bytes, dict, float], Answer]
PayloadBuilder = Callable[[Session, WebhookDelivery], dict]


@dataclass
class Sender:
    """Sends due deliveries. ``sessions`` makes a new session; ``payload`` builds a
    delivery's body (``feedback.disclosure.webhook_payload``); ``post`` does the HTTP."""

    sessions: Callable[[], Session]
    payload: PayloadBuilder
    post: Post = http_post
    clock: Callable[[], datetime] = utcnow
    timeout: float = 5.0
    retry_seconds: float = 10.0
    max_attempts: int = 12
    batch: int = 50
    concurrency: int = 8

    @classmethod
    def from_config(cls, config, sessions, payload, **overrides) -> "Sender":
        settings = {"timeout": config["WEBHOOK_TIMEOUT_SECONDS"],
                    "retry_seconds": config["WEBHOOK_RETRY_SECONDS"],
                    "max_attempts": config["WEBHOOK_MAX_ATTEMPTS"],
                    "concurrency": config["WEBHOOK_CONCURRENCY"]}
        return cls(sessions=sessions, payload=payload, **(settings | overrides))

    def run_once(self) -> dict[str, int]:
        """Send every delivery due now (one batch); returns how many ended each way."""
        return self._run_batch()[0]

    def run_until_idle(self, budget_seconds: float) -> dict[str, int]:
        """Send batch after batch until nothing is due or ``budget_seconds`` have passed
        (the scheduler fires every few seconds; one batch per firing would cap delivery at
        ``batch`` per interval, below a busy day's routing rate)."""
        totals = {"delivered": 0, "retrying": 0, "failed": 0}
        started = time.monotonic()
        while True:
            counts, claimed = self._run_batch()
            for outcome, n in counts.items():
                totals[outcome] += n
            if claimed < self.batch or time.monotonic() - started >= budget_seconds:
                return totals

    def _run_batch(self) -> tuple[dict[str, int], int]:
        """Each institution's deliveries in the order they were made, institutions side
        by side (``concurrency`` at a time), so a slow endpoint holds up only its own."""
        claimed = self._claim()
        by_institution = defaultdict(list)
        for delivery_id, institution_id in claimed:
            by_institution[institution_id].append(delivery_id)
        counts = {"delivered": 0, "retrying": 0, "failed": 0}
        if not claimed:
            return counts, 0
        workers = min(self.concurrency, len(by_institution))
        with ThreadPoolExecutor(workers, thread_name_prefix="webhooks") as pool:
            for outcomes in pool.map(self._send_in_order, by_institution.values()):
                for outcome in outcomes:
                    counts[outcome] += 1
        return counts, len(claimed)

    def _send_in_order(self, delivery_ids: list[str]) -> list[str]:
        """Stop at the first that is not delivered: the rest wait for its retry (see
        ``_claim``) rather than overtake it or pile onto an endpoint that is failing."""
        outcomes = []
        for n, delivery_id in enumerate(delivery_ids):
            outcomes.append(self._send(delivery_id))
            if outcomes[-1] != "delivered":
                self._unclaim(delivery_ids[n + 1:])
                break
        return outcomes

    def _claim(self) -> list[tuple[str, int]]:
        """Take the due deliveries for a while, so that a second sender skips them, and
        return them with their institution, oldest first. Institutions with a delivery
        waiting to be retried are left out until it is due."""
        now = self.clock()
        backing_off = select(WebhookDelivery.institution_id).where(
            WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.attempts > 0,
            WebhookDelivery.next_attempt_at > now)
        with self.sessions() as session, transaction(session):
            ids = list(session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING,
                       WebhookDelivery.next_attempt_at <= now,
                       WebhookDelivery.institution_id.not_in(backing_off))
                .order_by(WebhookDelivery.next_attempt_at).limit(self.batch)
                .with_for_update(skip_locked=True)))
            lease = now + timedelta(seconds=2 * self.timeout + 30)
            rows = session.scalars(select(WebhookDelivery)
                                   .where(WebhookDelivery.id.in_(ids))
                                   .order_by(WebhookDelivery.created_at,
                                             WebhookDelivery.id)).all()
            for row in rows:
                row.next_attempt_at = lease
            return [(row.id, row.institution_id) for row in rows]

    def _unclaim(self, delivery_ids: list[str]) -> None:
        if not delivery_ids:
            return
        with self.sessions() as session, transaction(session):
            session.execute(update(WebhookDelivery)
                            .where(WebhookDelivery.id.in_(delivery_ids),
                                   WebhookDelivery.status == DeliveryStatus.PENDING)
                            .values(next_attempt_at=self.clock()))

    def _send(self, delivery_id: str) -> str:
        with self.sessions() as session:
            with transaction(session):
                row = session.get(WebhookDelivery, delivery_id)
                institution = session.get(Institution, row.institution_id)
                body = orjson.dumps(self.payload(session, row))
                row.payload = orjson.loads(body)
            url, secret = institution.webhook_url, institution.webhook_secret
            started = time.perf_counter()
            if not url or not secret:
                answer = Answer(None, "the institution has no webhook URL or secret now")
            else:
                at = self.clock()
                answer = self.post(url, body, {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, int(at.timestamp()), body),
                    "Lendmatch-Delivery": row.id, "Lendmatch-Event": row.event_type,
                }, self.timeout)
            elapsed_ms = (time.perf_counter() - started) * 1000
            with transaction(session):
                return self._record(session, row, answer, elapsed_ms)

    def _record(self, session: Session, row: WebhookDelivery, answer: Answer,
                elapsed_ms: float) -> str:
        now = self.clock()
        row.attempts += 1
        row.last_status_code, row.last_error = answer.status_code, answer.error
        session.add(WebhookAttempt(delivery_id=row.id, number=row.attempts, at=now,
                                   status_code=answer.status_code, error=answer.error,
                                   duration_ms=elapsed_ms))
        if answer.status_code is not None and 200 <= answer.status_code < 300:
            row.status, row.delivered_at = DeliveryStatus.DELIVERED, now
            if row.event_type == ROUTING_CREATED:
                mark_delivered(session, [row.object_id], now, via="webhook")
            return "delivered"
        if row.attempts >= self.max_attempts:
            row.status = DeliveryStatus.FAILED
            return "failed"
        wait = timedelta(seconds=self.retry_seconds * 2 ** (row.attempts - 1))
        row.next_attempt_at = now + min(wait, LONGEST_WAIT)
        return "retrying"
