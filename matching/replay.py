"""What-if: replay recent applications through the engine with proposed ops weights, and
compare with the current weights, before anything is saved.

Both runs use this process's current catalogue and learned models, greedily (no
exploration, so the difference is the weights' alone), and see every cap as open: the
replay shows where preference moves, not how today's remaining capacity would ration it.
A proposed weight replaces the product's ops weight; its learned multiplier still applies,
as it would in routing.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from matching import engine
from matching.applicant import Applicant, from_body
from matching.catalogue import CompiledCatalogue
from matching.models import Application
from matching.scoring import ScoringSettings
from products.models import Product, ProductStatus
from products.schemas import MAX_WEIGHT

MAX_APPLICATIONS = 2000


@dataclass(frozen=True)
class Run:
    routed: np.ndarray          # per catalogue position: applications routed to it
    expected_approvals: np.ndarray  # per catalogue position: sum of P(approve) where routed
    matched: int                # applications routed to at least one product
    p_any_approval: float       # mean over applications of P(at least one approval)

    @property
    def share(self) -> np.ndarray:
        total = self.routed.sum()
        return self.routed / total if total else np.zeros_like(self.routed, dtype=float)


@dataclass(frozen=True)
class Replay:
    applications: int
    catalogue: CompiledCatalogue
    proposed: dict[int, float]      # product id → proposed ops weight
    current_weights: dict[int, float]
    before: Run
    after: Run

    def rows(self) -> list[dict]:
        """Per product whose routing or weight moves, the biggest moves first."""
        cat, b, a = self.catalogue, self.before, self.after
        moved = np.flatnonzero((b.routed != a.routed)
                               | np.isin(cat.product_id, list(self.proposed)))
        rows = [{
            "product_id": int(cat.product_id[i]), "product": cat.product_name[i],
            "institution_id": int(cat.institution_id[i]),
            "institution": cat.institution_name[i],
            "weight_before": self.current_weights.get(int(cat.product_id[i])),
            "weight_after": self.proposed.get(int(cat.product_id[i])),
            "routed_before": int(b.routed[i]), "routed_after": int(a.routed[i]),
            "share_before": float(b.share[i]), "share_after": float(a.share[i]),
            "expected_approvals_before": float(b.expected_approvals[i]),
            "expected_approvals_after": float(a.expected_approvals[i]),
        } for i in moved.tolist()]
        return sorted(rows, key=lambda r: -abs(r["routed_after"] - r["routed_before"]))

    def institutions(self) -> list[dict]:
        cat = self.catalogue
        ids, group = np.unique(cat.institution_id, return_inverse=True)
        before = np.bincount(group, self.before.routed, len(ids))
        after = np.bincount(group, self.after.routed, len(ids))
        names = dict(zip(cat.institution_id.tolist(), cat.institution_name, strict=True))
        total_b, total_a = max(before.sum(), 1), max(after.sum(), 1)
        rows = [{"institution_id": int(i), "institution": names[int(i)],
                 "routed_before": int(x), "routed_after": int(y),
                 "share_before": float(x / total_b), "share_after": float(y / total_a)}
                for i, x, y in zip(ids.tolist(), before, after, strict=True) if x != y]
        return sorted(rows, key=lambda r: -abs(r["routed_after"] - r["routed_before"]))

    def totals(self) -> dict:
        n = max(self.applications, 1)
        return {side: {"routings_per_application": float(run.routed.sum() / n),
                       "expected_approvals_per_application":
                           float(run.expected_approvals.sum() / n),
                       "p_any_approval": run.p_any_approval,
                       "matched_share": run.matched / n}
                for side, run in (("before", self.before), ("after", self.after))}


def check_changes(session: Session, changes: dict[int, float]) -> dict[int, Product]:
    """The products named, refusing unknown or retired ones and weights out of range."""
    errors = {}
    if not changes:
        raise InvalidInput({"changes": ["propose at least one weight change"]})
    products = {p.id: p for p in session.scalars(
        select(Product).where(Product.id.in_(list(changes))))}
    for product_id, weight in changes.items():
        if product_id not in products:
            errors[str(product_id)] = ["no such product"]
        elif products[product_id].status == ProductStatus.RETIRED:
            errors[str(product_id)] = ["retired: it is no longer routed"]
        elif not 0 <= weight <= MAX_WEIGHT or not np.isfinite(weight):
            errors[str(product_id)] = [f"weight must be between 0 and {MAX_WEIGHT}"]
    if errors:
        raise InvalidInput({"changes": errors})
    return products


def recent_applicants(session: Session, limit: int):
    rows = session.execute(
        select(Application.applicant, Application.amount, Application.term,
               Application.term_unit, Application.channel)
        .order_by(Application.created_at.desc()).limit(limit)).all()
    return [from_body({"applicant": r.applicant, "channel": str(r.channel),
                       "request": {"amount": r.amount, "term": r.term,
                                   "term_unit": str(r.term_unit)}}) for r in rows]


def replay(session: Session, catalogue: CompiledCatalogue, model, settings: ScoringSettings,
           *, k_of: Callable[[Applicant], int], changes: dict[int, float],
           applications: int) -> Replay:
    if not 1 <= applications <= MAX_APPLICATIONS:
        raise InvalidInput({"applications": [f"between 1 and {MAX_APPLICATIONS}"]})
    products = check_changes(session, changes)
    weights = catalogue.weight.copy()
    position = {int(p): i for i, p in enumerate(catalogue.product_id.tolist())}
    for product_id, weight in changes.items():
        if product_id in position:
            ops = products[product_id].weight
            multiplier = weights[position[product_id]] / ops if ops else 1.0
            weights[position[product_id]] = weight * multiplier
    proposed_catalogue = replace(catalogue, weight=weights)
    applicants = recent_applicants(session, applications)
    return Replay(
        applications=len(applicants), catalogue=catalogue, proposed=dict(changes),
        current_weights={pid: products[pid].weight for pid in changes},
        before=_run(catalogue, applicants, model, settings, k_of),
        after=_run(proposed_catalogue, applicants, model, settings, k_of))


def _run(catalogue, applicants, model, settings, k_of) -> Run:
    routed = np.zeros(catalogue.size)
    expected = np.zeros(catalogue.size)
    matched, p_any = 0, 0.0
    rng = np.random.default_rng(0)  # unused without exploration; passed for determinism

    def no_usage(products, institutions):
        return np.zeros(len(products)), np.zeros(len(institutions))

    for applicant in applicants:
        decision = engine.route(catalogue, applicant, k=k_of(applicant), usage_of=no_usage,
                                settings=settings, model=model, exploration_rate=0.0, rng=rng)
        if len(decision.chosen) == 0:
            continue
        mean = decision.scores.predictions.mean[decision.chosen_in_scores]
        np.add.at(routed, decision.chosen, 1)
        np.add.at(expected, decision.chosen, mean)
        matched += 1
        p_any += float(1.0 - np.prod(1.0 - mean))
    return Run(routed, expected, matched, p_any / max(len(applicants), 1))
