"""The ``capacity-prices`` job: forecast the rest of the day's demand, solve for the
shadow prices of the remaining capacity (``learning/prices.py``) and store the solve.
An identical result to the day's latest solve is not stored again."""

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import transaction
from learning.models import CapacityPriceSolve
from learning.prices import Demand, end_of_day, solve
from matching.models import Application, DailyUsage, RoutingTrace, UsageScope
from matching.routing_context import RoutingContext

SAMPLE_SIZE = 200
HISTORY_DAYS = 7


def forecast_rest_of_day(session: Session, now: datetime, zone) -> float:
    """Arrivals expected between now and local midnight: the average, over the previous
    days that had any applications, of the arrivals in the same part of the day; without
    such days, the last hour's rate held to midnight."""
    ends = end_of_day(now, zone)
    totals = []
    for back in range(1, HISTORY_DAYS + 1):
        start, end = now - timedelta(days=back), ends - timedelta(days=back)
        day_start = end - timedelta(days=1)
        seen = session.scalar(select(func.count()).select_from(Application).where(
            Application.created_at >= day_start, Application.created_at < end))
        if seen:
            totals.append(session.scalar(select(func.count()).select_from(Application).where(
                Application.created_at >= start, Application.created_at < end)))
    if totals:
        return float(np.mean(totals))
    last_hour = session.scalar(select(func.count()).select_from(Application).where(
        Application.created_at >= now - timedelta(hours=1), Application.created_at <= now))
    return float(last_hour) * (ends - now).total_seconds() / 3600.0


def demand_sample(session: Session, now: datetime) -> tuple[list, list]:
    """Recent first waves: their eligible products and their scores before prices."""
    bodies = session.scalars(select(RoutingTrace.body).where(
        RoutingTrace.wave == 1, RoutingTrace.created_at <= now)
        .order_by(RoutingTrace.created_at.desc(), RoutingTrace.application_id.desc())
        .limit(SAMPLE_SIZE)).all()
    ids, scores = [], []
    for body in bodies:
        eligible = body.get("eligible", [])
        ids.append(np.array([e["product_id"] for e in eligible], dtype=np.int64))
        scores.append(np.array([e["score"] + e.get("price", 0.0) for e in eligible]))
    return ids, scores


def recompute(session: Session, context: RoutingContext, now: datetime) -> dict:
    with transaction(session):
        catalogue = context.cache.get(session)
        day = context.capacity_day(now)
        ids, scores = demand_sample(session, now)
        demand = Demand(ids, scores, forecast_rest_of_day(session, now, context.cap_timezone))
        used = {str(scope): {} for scope in UsageScope}
        for scope, object_id, count in session.execute(
                select(DailyUsage.scope, DailyUsage.object_id, DailyUsage.applications)
                .where(DailyUsage.day == day)):
            used[str(scope)][object_id] = count
        result = solve(catalogue, demand, used["product"], used["institution"], context.k)
        previous = session.scalars(select(CapacityPriceSolve).where(CapacityPriceSolve.day == day)
                                   .order_by(CapacityPriceSolve.id.desc()).limit(1)).first()
        if previous is not None and previous.prices == result["prices"]:
            return {"stored": False, "solve": previous.id, **result["summary"]}
        row = CapacityPriceSolve(day=day, solved_at=now, prices=result["prices"],
                                 summary=result["summary"])
        session.add(row)
        session.flush()
        return {"stored": True, "solve": row.id, **result["summary"]}
