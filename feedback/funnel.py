"""The ``funnel-snapshot`` job: one local day's funnel, per institution and in all
(``institution_id`` 0), upserted so that running it again the same day only refreshes
the counts."""

from datetime import datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.db import transaction
from feedback.models import Loan, Offer, OfferStatus
from learning.models import FunnelSnapshot
from matching.models import Application, ApplicationStatus, Routing, RoutingStatus

ALL = 0


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def counts(session: Session, start: datetime, end: datetime) -> dict[int, dict]:
    funnel: dict[int, dict] = {}
    total = funnel.setdefault(ALL, {})
    applications = session.execute(
        select(func.count(), _count_if(Application.status != ApplicationStatus.NO_MATCH))
        .where(Application.created_at >= start, Application.created_at < end)).one()
    total.update(applications=int(applications[0] or 0), routed=int(applications[1] or 0))
    rows = session.execute(
        select(Routing.institution_id, func.count(),
               *(_count_if(Routing.status == s) for s in RoutingStatus))
        .where(Routing.created_at >= start, Routing.created_at < end)
        .group_by(Routing.institution_id)).all()
    for row in rows:
        entry = funnel.setdefault(row[0], {})
        entry["routings"] = int(row[1])
        for status, value in zip(RoutingStatus, row[2:], strict=True):
            entry[f"routings_{status}"] = int(value or 0)
    for institution, accepted in session.execute(
            select(Offer.institution_id, func.count())
            .where(Offer.status == OfferStatus.ACCEPTED, Offer.created_at >= start,
                   Offer.created_at < end).group_by(Offer.institution_id)):
        funnel.setdefault(institution, {})["offers_accepted"] = int(accepted)
    for institution, funded, volume in session.execute(
            select(Loan.institution_id, func.count(), func.sum(Loan.amount))
            .where(Loan.funded_at >= start, Loan.funded_at < end)
            .group_by(Loan.institution_id)):
        entry = funnel.setdefault(institution, {})
        entry.update(funded=int(funded), funded_amount=int(volume or 0))
    keys = ("routings", *(f"routings_{s}" for s in RoutingStatus), "offers_accepted",
            "funded", "funded_amount")
    for key in keys:
        total[key] = sum(e.get(key, 0) for i, e in funnel.items() if i != ALL)
        for entry in funnel.values():
            entry.setdefault(key, 0)
    return funnel


def snapshot(session: Session, now: datetime, zone) -> dict:
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    with transaction(session):
        funnel = counts(session, start, end)
        changed = 0
        for institution, entry in funnel.items():
            row = session.get(FunnelSnapshot, (local.date(), institution))
            if row is None:
                session.add(FunnelSnapshot(day=local.date(), institution_id=institution,
                                           counts=entry, taken_at=now))
                changed += 1
            elif row.counts != entry:
                row.counts, row.taken_at = entry, now
                changed += 1
    return {"day": local.date().isoformat(), "institutions": len(funnel) - 1,
            "rows_changed": changed, **funnel[ALL]}
