"""Routing weights: each product's ops weight times a learned multiplier, every version
kept with what changed and why.

The ``recompute-weights`` job compares, per product over the last ``WINDOW``, what was
observed with what the models predicted:

* approval: approvals against the sum of the approval probabilities routing used;
* take-up: offers accepted against the take-up model's probabilities for each offer set;
* repayment: loans repaid against the market repayment model's P(not bad) for the same
  borrowers, over resolved loans. The market's view, not the institution's: the
  institution's own record already enters the score as expected loss, and this ratio is
  what lowers the weight of a product whose loans go bad more than its borrowers should.

Each ratio is shrunk towards 1 with ``PSEUDO_COUNT`` (``(observed + a) / (predicted +
a)``), so a handful of outcomes moves nothing much, and the multiplier is their product,
clipped to the configured bounds. A product whose loans go bad more often than predicted
loses weight. A new version is written only when the multiplier moves by at least
``MIN_CHANGE``; a locked product is left alone. Ops can lock a weight, or roll back to an
earlier version, through ``/v1/products/{id}/weights``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core import audit
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.principal import Principal
from feedback.models import Loan, Offer
from learning import store
from learning.models import ModelKind, ProductWeightVersion
from learning.training import DECIDED, choice_sets, resolved_loans
from matching.models import Routing, RoutingStatus
from products import catalogue_version
from products.models import Product

WINDOW = timedelta(days=30)
PSEUDO_COUNT = 20.0
MIN_CHANGE = 0.01
JOB_ACTOR = "job:recompute-weights"


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float

    @classmethod
    def from_config(cls, config) -> "Bounds":
        return cls(config["WEIGHT_MULTIPLIER_MIN"], config["WEIGHT_MULTIPLIER_MAX"])


def shrunk_ratio(observed: float, predicted: float) -> float:
    return (observed + PSEUDO_COUNT) / (predicted + PSEUDO_COUNT)


def current(session: Session, product_id: int) -> ProductWeightVersion | None:
    return session.scalars(select(ProductWeightVersion).where(
        ProductWeightVersion.product_id == product_id,
        ProductWeightVersion.is_current.is_(True))).first()


def evidence(session: Session, now: datetime) -> dict[int, dict]:
    """Observed and predicted counts per product over the window."""
    since = now - WINDOW
    counts: dict[int, dict] = {}

    def at(product_id) -> dict:
        return counts.setdefault(int(product_id), {
            "approved": 0.0, "approvals_predicted": 0.0, "decisions": 0,
            "accepted": 0.0, "acceptances_predicted": 0.0, "offers": 0,
            "repaid": 0.0, "repaid_predicted": 0.0, "loans": 0})

    for row in session.execute(
            select(Routing.product_id, func.count(),
                   func.sum(case((Routing.status == RoutingStatus.APPROVED, 1), else_=0)),
                   func.sum(Routing.approval_probability))
            .where(Routing.status.in_(DECIDED), Routing.created_at >= since)
            .group_by(Routing.product_id)):
        entry = at(row[0])
        entry.update(decisions=int(row[1]), approved=float(row[2] or 0),
                     approvals_predicted=float(row[3] or 0))

    takeup, _ = store.posterior(session, ModelKind.TAKEUP)
    ids, F, chosen, sets, offer_products = choice_sets(session, Offer.created_at >= since)
    if ids:
        predicted = takeup.probabilities(F, sets)
        for product, was_chosen, p in zip(offer_products, chosen.tolist(), predicted.tolist(),
                                          strict=True):
            entry = at(product)
            entry["offers"] += 1
            entry["accepted"] += was_chosen
            entry["acceptances_predicted"] += p

    repayment, _ = store.posterior(session, ModelKind.REPAYMENT)
    ids, X, bad, _, products = resolved_loans(session, Loan.funded_at >= since)
    if ids:
        good_predicted = 1.0 - repayment.probabilities(X)
        for product, was_bad, p in zip(products.tolist(), bad.tolist(),
                                       good_predicted.tolist(), strict=True):
            entry = at(product)
            entry["loans"] += 1
            entry["repaid"] += 1.0 - was_bad
            entry["repaid_predicted"] += p
    return counts


def recompute(session: Session, now: datetime, bounds: Bounds) -> dict:
    """The job: one transaction, a new version for every product whose multiplier moved."""
    changed, locked = [], []
    with transaction(session):
        counts = evidence(session, now)
        products = session.execute(select(Product.id, Product.weight)
                                   .where(Product.id.in_(list(counts)))).all()
        for product_id, ops_weight in products:
            e = counts[product_id]
            ratios = (shrunk_ratio(e["approved"], e["approvals_predicted"]),
                      shrunk_ratio(e["accepted"], e["acceptances_predicted"]),
                      shrunk_ratio(e["repaid"], e["repaid_predicted"]))
            multiplier = round(float(np.clip(np.prod(ratios), bounds.low, bounds.high)), 4)
            now_version = current(session, product_id)
            if now_version is not None and now_version.locked:
                locked.append(product_id)
                continue
            before = now_version.multiplier if now_version else 1.0
            if abs(multiplier - before) < MIN_CHANGE:
                continue
            reason = (f"observed vs predicted over {WINDOW.days} days: approvals "
                      f"{e['approved']:.0f}/{e['approvals_predicted']:.1f}, acceptances "
                      f"{e['accepted']:.0f}/{e['acceptances_predicted']:.1f}, repaid "
                      f"{e['repaid']:.0f}/{e['repaid_predicted']:.1f}; multiplier "
                      f"{before:.3f} → {multiplier:.3f}")
            _write(session, product_id, now_version, ops_weight=ops_weight, locked=False,
                   ratios=ratios, multiplier=multiplier, evidence=e, reason=reason,
                   actor=JOB_ACTOR, now=now)
            changed.append(product_id)
        if changed:
            catalogue_version.bump(session)
    return {"products_evaluated": len(products), "changed": len(changed),
            "locked_skipped": len(locked), "changed_products": changed[:50]}


def _write(session, product_id, previous, *, ops_weight, locked, ratios, multiplier,
           evidence, reason, actor, now) -> ProductWeightVersion:
    if previous is not None:
        previous.is_current = False
        session.flush()  # the partial unique index allows one current version
    row = ProductWeightVersion(
        product_id=product_id, version=(previous.version + 1) if previous else 1,
        is_current=True, ops_weight=ops_weight, locked=locked,
        approval_ratio=round(ratios[0], 4), takeup_ratio=round(ratios[1], 4),
        repayment_ratio=round(ratios[2], 4), multiplier=multiplier,
        effective_weight=round(ops_weight * multiplier, 6), evidence=evidence,
        reason=reason, actor=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


def history(session: Session, product_id: int) -> list[ProductWeightVersion]:
    if session.get(Product, product_id) is None:
        raise NotFound(f"no product {product_id}")
    return list(session.scalars(select(ProductWeightVersion)
                                .where(ProductWeightVersion.product_id == product_id)
                                .order_by(ProductWeightVersion.version.desc())))


def change(session: Session, who: Principal, product_id: int, *, reason: str, now: datetime,
           locked: bool | None = None, rollback_to: int | None = None) -> ProductWeightVersion:
    """Ops: lock or unlock the learned multiplier, or roll back to an earlier version's
    multiplier. Either way a new version, and an audit entry."""
    with transaction(session):
        product = session.get(Product, product_id, with_for_update=True)
        if product is None:
            raise NotFound(f"no product {product_id}")
        previous = current(session, product_id)
        source = previous
        if rollback_to is not None:
            source = session.scalars(select(ProductWeightVersion).where(
                ProductWeightVersion.product_id == product_id,
                ProductWeightVersion.version == rollback_to)).first()
            if source is None:
                raise InvalidInput({"version": [f"product {product_id} has no weight "
                                                f"version {rollback_to}"]})
        ratios = ((source.approval_ratio, source.takeup_ratio, source.repayment_ratio)
                  if source else (1.0, 1.0, 1.0))
        multiplier = source.multiplier if source else 1.0
        keep_locked = previous.locked if previous else False
        row = _write(session, product_id, previous, ops_weight=product.weight,
                     locked=keep_locked if locked is None else locked, ratios=ratios,
                     multiplier=multiplier, evidence=source.evidence if source else {},
                     reason=reason, actor=who.actor, now=now)
        action = "weight_rollback" if rollback_to is not None else "weight_lock"
        audit.record(session, who, action, "product", product_id,
                     before=_summary(previous), after=_summary(row), reason=reason)
        catalogue_version.bump(session)
    return row


def _summary(row: ProductWeightVersion | None) -> dict | None:
    if row is None:
        return None
    return {"version": row.version, "multiplier": row.multiplier, "locked": row.locked,
            "effective_weight": row.effective_weight}
