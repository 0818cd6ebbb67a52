"""Drive the real engine with a simulated market, through the same service functions the
HTTP views call (bodies validated by the same schemas), on a simulated clock."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import orjson
from flask import Flask
from sqlalchemy import select

from core.principal import Principal, Role
from feedback import decisions
from feedback.schemas import DecisionIn
from matching import service
from matching.models import Routing, RoutingStatus
from matching.schemas import ApplicationIn
from simulation.market import Borrower, Lender, borrower


def request_hash(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Run:
    app: Flask
    lenders: dict[int, Lender]                # by institution id
    borrower_app: Principal
    seed: int = 0
    clock: Callable[[], datetime] | None = None
    seconds_between_arrivals: float = 5.0
    decided: int = 0
    arrivals: int = 0
    log: list[dict] = field(default_factory=list)   # one entry per decision

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        self.context = self.app.extensions["lendmatch.routing"]
        self.application_schema = ApplicationIn()
        self.decision_schema = DecisionIn()
        self.borrowers: dict[str, Borrower] = {}

    def now(self) -> datetime:
        return self.context.clock()

    def arrive(self, session) -> dict:
        """One borrower applies; returns the routing service's answer."""
        self.arrivals += 1
        b = borrower(self.rng, self.arrivals + 1_000_000 * self.seed)
        raw = b.body(self.now().isoformat())
        body = self.application_schema.load(raw)
        answer, _ = service.apply(session, self.borrower_app, body,
                                  request_hash=request_hash(raw),
                                  idempotency_key=f"sim-{self.seed}-{self.arrivals}",
                                  context=self.context)
        self.borrowers[answer["id"]] = b
        if hasattr(self.clock, "advance"):
            self.clock.advance(seconds=self.seconds_between_arrivals)
        return answer

    def decide_pending(self, session) -> int:
        """Every lender decides every pending routing it was sent."""
        pending = session.execute(select(Routing.id, Routing.application_id,
                                         Routing.institution_id, Routing.product_id,
                                         Routing.approval_probability, Routing.created_at,
                                         Routing.wave, Routing.rank)
                                  .where(Routing.status == RoutingStatus.PENDING)).all()
        session.rollback()
        # Decide in arrival order, not id order: ids made in the same millisecond sort at
        # random, and each decision draws from the run's generator, so id order made the
        # same seed give different runs.
        arrival = {application_id: n for n, application_id in enumerate(self.borrowers)}
        pending.sort(key=lambda r: (r.created_at, arrival.get(r.application_id, -1), r.wave,
                                    r.rank))
        for routing in pending:
            lender = self.lenders.get(routing.institution_id)
            b = self.borrowers.get(routing.application_id)
            if lender is None or b is None:
                continue
            policy = lender.policy_for(routing.product_id)
            p = policy.probability(b, self.rng)
            approve = self.rng.random() < p
            raw = ({"decision": "approve", "amount": b.amount, "apr": policy.apr,
                    "term": b.term, "term_unit": "month",
                    "offer_expires_at": (self.now() + timedelta(days=3)).isoformat()}
                   if approve else {"decision": "decline", "reasons": ["score_too_low"]})
            try:
                decisions.decide(session, lender.principal, routing.id,
                                 self.decision_schema.load(raw),
                                 request_hash=request_hash(raw),
                                 apr_cap=self.app.config["APR_CAP"], context=self.context)
            except decisions.states.InvalidTransition:
                continue  # withdrawn or expired meanwhile
            self.decided += 1
            self.log.append({"institution_id": routing.institution_id,
                             "product_id": routing.product_id, "true_p": p,
                             "predicted": routing.approval_probability,
                             "approved": bool(approve)})
        return len(pending)


def institution_principal(institution_id: int) -> Principal:
    return Principal(key_id=None, role=Role.INSTITUTION, institution_id=institution_id,
                     label=f"sim:{institution_id}")


def borrower_principal(key_id: int) -> Principal:
    return Principal(key_id=key_id, role=Role.BORROWER_APP, label="sim:borrower-app")


def take_offers(run: Run, session, choose=None) -> list[str]:
    """Each borrower with open offers takes the cheapest (or ``choose(offers)``, which
    may return None to take none); returns the accepted offer ids."""
    from feedback.models import Offer, OfferStatus
    from feedback.offers import accept

    rows = session.scalars(select(Offer).where(Offer.status == OfferStatus.OPEN)
                           .order_by(Offer.application_id, Offer.apr, Offer.id)).all()
    session.rollback()
    by_application: dict[str, list] = {}
    for offer in rows:
        by_application.setdefault(offer.application_id, []).append(offer)
    taken = []
    for application_id, offers in by_application.items():
        offer = choose(offers) if choose else offers[0]
        if offer is not None:
            accept(session, run.borrower_app, application_id, offer.id, run.context)
            taken.append(offer.id)
    return taken


def fund_and_resolve(run: Run, session, offer_ids: list[str], bad) -> list[str]:
    """Fund each accepted offer, then post its outcome: charged off if ``bad(offer)``,
    otherwise paid off. Returns the loan ids."""
    from feedback import loans
    from feedback.models import Offer
    from feedback.schemas import LoanEventIn, LoanIn

    loan_ids = []
    for offer_id in offer_ids:
        offer = session.get(Offer, offer_id)
        session.rollback()
        who = institution_principal(offer.institution_id)
        raw = {"offer_id": offer_id, "amount": offer.amount,
               "funded_at": run.now().isoformat()}
        loan, _ = loans.fund(session, who, LoanIn().load(raw), request_hash=request_hash(raw),
                             now=run.now())
        at = run.now().isoformat()
        event = ({"type": "charged_off", "at": at, "amount": offer.amount} if bad(offer)
                 else {"type": "paid_off", "at": at})
        loans.record_event(session, who, loan.id, LoanEventIn().load(event), now=run.now())
        loan_ids.append(loan.id)
    return loan_ids
