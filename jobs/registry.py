"""The scheduler's jobs: what each does, and how often.

Every job is idempotent: run twice on the same state, the second run changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    every_seconds: int | None          # an interval, or
    at_local_midnight: bool            # once a day at midnight in CAP_TIMEZONE
    run: Callable[[Flask, object, object], dict]   # (app, session, now) → summary

    @property
    def schedule(self) -> str:
        if self.at_local_midnight:
            return "daily at local midnight"
        return f"every {self.every_seconds}s"


def _update_models(app, session, now):
    from learning.training import update_models

    return update_models(session, now)


def _recompute_weights(app, session, now):
    from learning.weights import Bounds, recompute

    return recompute(session, now, Bounds.from_config(app.config))


def _capacity_prices(app, session, now):
    from learning.pricing import recompute

    return recompute(session, app.extensions["lendmatch.routing"], now)


def _expire(app, session, now):
    from feedback.lifecycle import expire_due

    return expire_due(session, app.extensions["lendmatch.routing"], now)


def _reset_daily_caps(app, session, now):
    from sqlalchemy import select

    from core.db import transaction
    from lenders.models import Institution
    from matching.capacity import open_day
    from products.models import Product

    day = app.extensions["lendmatch.routing"].capacity_day(now)
    with transaction(session):
        products = session.scalars(select(Product.id).where(
            Product.daily_application_cap.is_not(None))).all()
        institutions = session.scalars(select(Institution.id).where(
            Institution.daily_application_cap.is_not(None))).all()
        created = open_day(session, day, list(products), list(institutions))
    return {"day": day.isoformat(), "counters_opened": created,
            "capped": len(products) + len(institutions)}


def _funnel_snapshot(app, session, now):
    from feedback.funnel import snapshot

    return snapshot(session, now, app.extensions["lendmatch.routing"].cap_timezone)


def _deliver_webhooks(app, session, now):
    from feedback.disclosure import webhook_payload
    from feedback.webhooks import Sender

    # The sessionmaker itself: the sender's threads have no app context. Most of the
    # job's 10 s interval, so that the next firing is not skipped.
    return Sender.from_config(app.config, app.extensions["lendmatch.sessions"],
                              webhook_payload).run_until_idle(8.0)


JOBS = {job.name: job for job in (
    Job("update-models", "learn from new decisions, offer choices and resolved loans",
        300, False, _update_models),
    Job("recompute-weights", "routing weight multipliers from observed vs predicted",
        3600, False, _recompute_weights),
    Job("capacity-prices", "shadow prices of the remaining daily capacity (OR-Tools LP)",
        900, False, _capacity_prices),
    Job("expire", "expire routings and offers past their deadline; route next waves",
        30, False, _expire),
    Job("reset-daily-caps", "open the new local day's capacity counters at zero",
        None, True, _reset_daily_caps),
    Job("funnel-snapshot", "today's funnel per institution", 900, False, _funnel_snapshot),
    Job("deliver-webhooks", "send signed webhooks that are due, with retries",
        10, False, _deliver_webhooks),
)}
