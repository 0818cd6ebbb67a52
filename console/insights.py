"""What the console's pages show, read from the database: funnels by day, routing
shares, approval-odds calibration and the scheduler's state. Each function takes a
``Session``; nothing here writes."""

from datetime import date, datetime, time, timedelta

import numpy as np
from sqlalchemy import Integer, case, cast, func, or_, select
from sqlalchemy.orm import Session

from feedback.models import Loan, LoanStatus, Offer, OfferStatus
from jobs.models import JobRun, RunStatus
from jobs.registry import JOBS
from jobs.runner import slot_of
from learning.calibration import BINS, ece, reliability
from learning.repayment import BAD_DAYS_PAST_DUE
from learning.training import DECIDED
from matching.models import Routing, RoutingStatus

STAGES = ("routed", "approved", "accepted", "funded", "repaid", "bad")
SECONDS_PER_DAY = 86400


def local_days(now: datetime, zone, days: int) -> tuple[datetime, list[date]]:
    """The start of the first of the last ``days`` local days, and those days."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    return (datetime.combine(first, time(0), tzinfo=zone),
            [first + timedelta(days=i) for i in range(days)])


def _day_bucket(session: Session, column, start: datetime):
    """Whole days since ``start`` (a local midnight), in SQL on both databases."""
    offset = start.timestamp()
    if session.get_bind().dialect.name == "sqlite":
        seconds = cast(func.strftime("%s", column), Integer)
        return cast((seconds - int(offset)) / SECONDS_PER_DAY, Integer)
    return cast(func.floor((func.extract("epoch", column) - offset) / SECONDS_PER_DAY), Integer)


def _sum_if(condition):
    return func.sum(case((condition, 1), else_=0))


def funnel(session: Session, now: datetime, zone, days: int, *, product_id: int | None = None,
           institution_id: int | None = None) -> dict:
    """Routings by the local day they were made, and how far each got: approved, offer
    accepted, funded, then repaid or bad (charged off or 90+ days past due)."""
    start, labels = local_days(now, zone, days)
    bucket = _day_bucket(session, Routing.created_at, start).label("bucket")
    bad = or_(Loan.status == LoanStatus.CHARGED_OFF, Loan.max_days_past_due >= BAD_DAYS_PAST_DUE)
    query = (select(bucket, func.count(), _sum_if(Routing.status == RoutingStatus.APPROVED),
                    _sum_if(Offer.status == OfferStatus.ACCEPTED), func.count(Loan.id),
                    _sum_if(Loan.status == LoanStatus.PAID_OFF), _sum_if(bad))
             .select_from(Routing)
             .outerjoin(Offer, Offer.routing_id == Routing.id)
             .outerjoin(Loan, Loan.offer_id == Offer.id)
             .where(Routing.created_at >= start).group_by(bucket))
    if product_id is not None:
        query = query.where(Routing.product_id == product_id)
    if institution_id is not None:
        query = query.where(Routing.institution_id == institution_id)
    series = {stage: [0] * days for stage in STAGES}
    for row in session.execute(query):
        if row[0] is not None and 0 <= row[0] < days:
            for stage, value in zip(STAGES, row[1:], strict=True):
                series[stage][row[0]] = int(value or 0)
    return {"days": [d.isoformat() for d in labels], "series": series,
            "totals": {stage: sum(values) for stage, values in series.items()}}


def routed_by(session: Session, since: datetime, column) -> dict[int, int]:
    """Routings since ``since`` per product or institution (``column``)."""
    return {int(k): int(v) for k, v in session.execute(
        select(column, func.count()).where(Routing.created_at >= since).group_by(column))}


def approvals_by_institution(session: Session, since: datetime) -> dict[int, tuple[int, int]]:
    """Per institution: decisions (approved, declined, expired) and approvals."""
    return {int(i): (int(n), int(a or 0)) for i, n, a in session.execute(
        select(Routing.institution_id, func.count(),
               _sum_if(Routing.status == RoutingStatus.APPROVED))
        .where(Routing.created_at >= since, Routing.status.in_(DECIDED))
        .group_by(Routing.institution_id))}


def calibration(session: Session, institution_id: int, since: datetime) -> dict:
    """The odds routing gave (each routing's posterior mean, as the borrower's odds band
    showed it) against what the institution decided, in ``BINS`` bins."""
    rows = session.execute(
        select(Routing.approval_probability, Routing.status)
        .where(Routing.institution_id == institution_id, Routing.created_at >= since,
               Routing.status.in_(DECIDED))).all()
    p = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] == RoutingStatus.APPROVED for r in rows], dtype=float)
    return {"decisions": len(rows), "ece": ece(p, y) if len(rows) else None,
            "approval_rate": float(y.mean()) if len(rows) else None,
            "mean_prediction": float(p.mean()) if len(rows) else None,
            "bins": reliability(p, y), "bin_count": BINS}


def jobs_status(session: Session, now: datetime, zone) -> list[dict]:
    """Per job: its schedule, last run, last outcome and when its next slot falls due."""
    status = []
    for job in JOBS.values():
        last = session.scalars(select(JobRun).where(JobRun.job == job.name)
                               .order_by(JobRun.id.desc()).limit(1)).first()
        finished = session.scalars(select(JobRun).where(
            JobRun.job == job.name, JobRun.status != RunStatus.RUNNING)
            .order_by(JobRun.id.desc()).limit(1)).first()
        if job.at_local_midnight:
            local = now.astimezone(zone)
            next_due = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
            period = timedelta(days=1)
        else:
            period = timedelta(seconds=job.every_seconds)
            this_slot = datetime.fromisoformat(slot_of(job.every_seconds, now))
            ran_this_slot = last is not None and last.slot == this_slot.isoformat()
            next_due = this_slot + period if ran_this_slot else now
        overdue = last is None or last.started_at < now - 2 * period
        status.append({"job": job, "last": last, "finished": finished, "next_due": next_due,
                       "overdue": overdue})
    return status


def share_of(routed: dict[int, int], key: int) -> float | None:
    total = sum(routed.values())
    return routed.get(key, 0) / total if total else None

