"""The ``update-models`` job: learn from every decision, closed offer set and resolved
loan not learned from yet, each model one incremental Laplace update, saved as a new
version in the same transaction that marks its rows learned. Nothing new: no new version
(so running it twice changes nothing the second time)."""

from datetime import datetime

import numpy as np
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.db import transaction
from feedback.models import Loan, LoanStatus, Offer, OfferStatus
from learning import store
from learning.models import ModelKind
from learning.repayment import BAD_DAYS_PAST_DUE
from learning.takeup import offer_features
from matching.applicant import from_body
from matching.features import repayment_row
from matching.models import Application, ApplicationStatus, Routing, RoutingStatus
from matching.service import stored_body

BATCH = 50_000
DECIDED = (RoutingStatus.APPROVED, RoutingStatus.DECLINED, RoutingStatus.EXPIRED)
# Applications whose offers can no longer change: one was accepted (the rest withdrawn),
# or all lapsed.
CHOICE_MADE = (ApplicationStatus.ACCEPTED, ApplicationStatus.FUNDED, ApplicationStatus.EXPIRED)


def update_models(session: Session, now: datetime) -> dict:
    summary = {}
    for kind, step in ((ModelKind.APPROVAL, _approval), (ModelKind.TAKEUP, _takeup),
                       (ModelKind.REPAYMENT, _repayment)):
        with transaction(session):
            summary[str(kind)] = step(session, now)
    return summary


def _save_and_mark(session, kind, fitted, table_column, ids, total, summary, now) -> dict:
    row = store.save(session, kind, fitted, batch_rows=len(ids), total_rows=total,
                     summary=summary, now=now)
    table = table_column.class_
    for start in range(0, len(ids), 1000):
        session.execute(update(table).where(table.id.in_(ids[start:start + 1000]))
                        .values(learned_in=row.id))
    return {"version": row.id, "new": len(ids), "total": total, **summary}


def _approval(session: Session, now: datetime) -> dict:
    rows = session.execute(
        select(Routing.id, Routing.features, Routing.status, Routing.institution_id,
               Routing.product_id)
        .where(Routing.learned_in.is_(None), Routing.status.in_(DECIDED),
               Routing.features.is_not(None))
        .order_by(Routing.id).limit(BATCH)).all()
    if not rows:
        return {"new": 0}
    posterior, _ = store.posterior(session, ModelKind.APPROVAL)
    X = np.array([r.features for r in rows], dtype=float)
    approved = np.array([r.status == RoutingStatus.APPROVED for r in rows])
    fitted = posterior.update(X, approved, np.array([r.institution_id for r in rows]),
                              np.array([r.product_id for r in rows]))
    return _save_and_mark(session, ModelKind.APPROVAL, fitted, Routing.id,
                          [r.id for r in rows], fitted.decisions,
                          {"approved": int(approved.sum()),
                           "institutions": len(fitted.institutions),
                           "products": len(fitted.products)}, now)


def choice_sets(session: Session, *where) -> tuple[list, np.ndarray, np.ndarray, np.ndarray,
                                                  list]:
    """Offers of applications whose choice is made: their ids, features, whether each
    was accepted, the choice set (application) index of each, and their product ids."""
    rows = session.execute(
        select(Offer.id, Offer.application_id, Offer.product_id, Offer.apr, Offer.amount,
               Offer.status, Application.amount.label("requested"))
        .join(Application, Application.id == Offer.application_id)
        .where(Application.status.in_(CHOICE_MADE), *where)
        .order_by(Offer.application_id, Offer.id).limit(BATCH)).all()
    ids, blocks, chosen, sets, products = [], [], [], [], []
    by_application: dict[str, list] = {}
    for row in rows:
        by_application.setdefault(row.application_id, []).append(row)
    for index, offers in enumerate(by_application.values()):
        ids += [o.id for o in offers]
        products += [o.product_id for o in offers]
        blocks.append(offer_features([o.apr for o in offers], [o.amount for o in offers],
                                     float(offers[0].requested)))
        chosen += [o.status == OfferStatus.ACCEPTED for o in offers]
        sets += [index] * len(offers)
    F = np.vstack(blocks) if blocks else np.zeros((0, 4))
    return ids, F, np.array(chosen, dtype=float), np.array(sets, dtype=np.int64), products


def _takeup(session: Session, now: datetime) -> dict:
    ids, F, chosen, sets, _ = choice_sets(session, Offer.learned_in.is_(None))
    if not ids:
        return {"new": 0}
    posterior, _ = store.posterior(session, ModelKind.TAKEUP)
    fitted = posterior.update(F, chosen, sets)
    return _save_and_mark(session, ModelKind.TAKEUP, fitted, Offer.id, ids,
                          fitted.choice_sets, {"accepted": int(chosen.sum()),
                                               "choice_sets": int(sets.max()) + 1}, now)


def resolved_loans(session: Session, *where) -> tuple[list, np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """Loans whose outcome is known: ids, repayment features, bad or not, institution and
    product of each."""
    bad = or_(Loan.status == LoanStatus.CHARGED_OFF,
              Loan.max_days_past_due >= BAD_DAYS_PAST_DUE)
    rows = session.execute(
        select(Loan.id, Loan.apr, Loan.institution_id, Loan.product_id,
               bad.label("bad"), Application)
        .join(Application, Application.id == Loan.application_id)
        .where(or_(bad, Loan.status == LoanStatus.PAID_OFF), *where)
        .order_by(Loan.id).limit(BATCH)).all()
    if not rows:
        empty = np.zeros(0)
        return [], np.zeros((0, 8)), empty, empty, empty
    X = np.vstack([repayment_row(applicant_of(r.Application), r.apr) for r in rows])
    return ([r.id for r in rows], X, np.array([bool(r.bad) for r in rows], dtype=float),
            np.array([r.institution_id for r in rows]), np.array([r.product_id for r in rows]))


def applicant_of(application: Application):
    return from_body(stored_body(application))


def _repayment(session: Session, now: datetime) -> dict:
    ids, X, bad, institutions, _ = resolved_loans(session, Loan.learned_in.is_(None))
    if not ids:
        return {"new": 0}
    posterior, _ = store.posterior(session, ModelKind.REPAYMENT)
    fitted = posterior.update(X, bad, institutions)
    return _save_and_mark(session, ModelKind.REPAYMENT, fitted, Loan.id, ids, fitted.loans,
                          {"bad": int(bad.sum())}, now)
