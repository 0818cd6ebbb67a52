"""The full engine on a simulated market through the service layer and a database: the
same world and arrivals as the in-memory arena (``simulation/arena.py``), but every step
is a real call.

* borrowers apply through ``matching.service.apply`` (bodies validated by the API's
  schemas);
* each institution decides its pending routings through ``feedback.decisions.decide``
  when its hidden delay has passed, or stays silent and lets the ``expire`` job expire
  the routing (and route the next wave);
* a borrower whose offers are in takes the lowest-APR acceptable one through
  ``feedback.offers.accept``; the institution funds it through ``feedback.loans.fund``
  and posts ``paid_off`` or ``charged_off`` through ``feedback.loans.record_event`` after
  the repayment lag;
* the scheduler's jobs (``update-models``, ``capacity-prices``, ``recompute-weights``,
  ``expire``, ``reset-daily-caps``) run through ``jobs.runner`` on simulated time.

The outcome is a ``Result`` like the arena's, read back from the database.
"""

import time
from datetime import timedelta

import numpy as np
from sqlalchemy import select

from app import create_app
from core.db import new_session
from feedback import decisions, loans, offers
from feedback.models import Loan
from feedback.schemas import DecisionIn, LoanEventIn, LoanIn
from jobs import runner
from matching import eligibility, service
from matching.catalogue import DAYS_PER
from matching.models import Application, Routing, RoutingStatus
from matching.schemas import ApplicationIn
from products.models import Product, TermUnit
from simulation import scenario
from simulation.arena import Result
from simulation.driver import borrower_principal, institution_principal, request_hash
from simulation.policies import EPOCH
from simulation.world import SECONDS_PER_DAY

STEP_SECONDS = 60.0
JOB_EVERY = {"expire": 60.0, "update-models": 300.0, "recompute-weights": 3600.0}


class Clock:
    def __init__(self):
        self.now = EPOCH

    def __call__(self):
        return self.now


def app_for(database_url: str, settings, seed: int):
    s = settings.scoring
    return create_app({
        "DATABASE_URL": database_url, "PRODUCTS_PER_APPLICATION": settings.k,
        "MAX_WAVES": settings.max_waves, "EXPLORATION_RATE": settings.exploration_rate,
        "INQUIRY_COST": s.inquiry_cost, "VALUE_WEIGHT": s.value_weight,
        "PLATFORM_FEE_RATE": s.platform_fee_rate, "APR_BENEFIT_WEIGHT": s.apr_benefit_weight,
        "LOSS_GIVEN_DEFAULT": s.loss_given_default, "APR_CAP": s.apr_cap,
        "MODEL_REFRESH_SECONDS": 0.0, "ROUTING_SEED": seed, "CAP_TIMEZONE": "UTC"})


def run(world, settings, limit: int, *, database_url: str, seed: int = 0,
        progress=None) -> Result:
    """``world`` is the capped world; it is installed in ``database_url``, an empty
    database (migrated here)."""
    progress = progress or (lambda _: None)
    app = app_for(database_url, settings, seed)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    clock = Clock()
    context = app.extensions["lendmatch.routing"]
    context.clock = clock
    mine = scenario.install(app, world)
    truth = scenario.truth(app, world, mine)
    position_of = {pid: k for k, pid in enumerate(truth.catalogue.product_id.tolist())}
    simulation = _Simulation(app, context, clock, world, truth, settings, limit, position_of)
    started = time.perf_counter()
    simulation.run(progress)
    out = simulation.result()
    out.seconds = time.perf_counter() - started
    out.extra["jobs"] = simulation.jobs
    app.extensions["lendmatch.engine"].dispose()
    return out


class _Simulation:
    def __init__(self, app, context, clock, world, truth, settings, limit, position_of):
        self.app, self.context, self.clock = app, context, clock
        self.world, self.truth, self.settings, self.limit = world, truth, settings, limit
        self.position_of = position_of
        self.applicant_of: dict[str, int] = {}
        self.outcomes: dict[int, object] = {}
        self.repay: list[tuple[float, str, int, bool]] = []
        self.last_job = dict.fromkeys(JOB_EVERY, -np.inf)
        self.last_price = -np.inf
        self.jobs: dict[str, int] = {}
        self.schemas = (ApplicationIn(), DecisionIn(), LoanIn(), LoanEventIn())
        with app.app_context():
            from core import keys
            from core.principal import Role, command_line

            session = new_session()
            row, _ = keys.create(session, command_line("simulation"), Role.BORROWER_APP)
            self.borrower_app = borrower_principal(row.id)
            self.terms = {p.id: (p.term_unit, p.term_min, p.term_max)
                          for p in session.scalars(select(Product))}
            session.close()

    def seconds(self) -> float:
        return (self.clock.now - EPOCH).total_seconds()

    def run(self, progress) -> None:
        b = self.world.borrowers
        end = float(b.arrival[self.limit - 1]) + 4 * 3600
        t, a, day = float(b.arrival[0]), 0, int(b.arrival[0] // SECONDS_PER_DAY)
        report = max(1, self.limit // 5)
        with self.app.app_context():
            session = new_session()
            while t <= end or self.repay:
                self.clock.now = EPOCH + timedelta(seconds=t)
                if int(t // SECONDS_PER_DAY) != day:
                    day = int(t // SECONDS_PER_DAY)
                    self._job("reset-daily-caps")
                while a < self.limit and b.arrival[a] <= t:
                    self._apply(session, a)
                    a += 1
                    if a % report == 0:
                        progress(f"service layer: {a:,}/{self.limit:,} arrivals")
                self._decide(session, t)
                self._accept(session)
                self._repay(session, t)
                for name, every in JOB_EVERY.items():
                    if t - self.last_job[name] >= every:
                        self.last_job[name] = t
                        self._job(name)
                if t - self.last_price >= self.settings.price_every:
                    self.last_price = t
                    self._job("capacity-prices")
                t += STEP_SECONDS
                if t > end and self.repay:
                    t = max(t, min(due for due, *_ in self.repay))
            session.close()

    def _job(self, name: str) -> None:
        outcome = runner.run(self.app, name, now=self.clock.now)
        if outcome.status != "done":
            raise RuntimeError(f"job {name} ended {outcome.status}: {outcome.error}")
        self.jobs[name] = self.jobs.get(name, 0) + 1

    def _apply(self, session, a: int) -> None:
        raw = self.world.borrowers.body(a, self.clock.now.isoformat())
        answer, _ = service.apply(session, self.borrower_app, self.schemas[0].load(raw),
                                  request_hash=request_hash(raw),
                                  idempotency_key=f"world-{a}", context=self.context)
        self.applicant_of[answer["id"]] = a
        self.outcomes[a] = self.truth.outcomes(a, self.world.borrowers.day(a))

    def _decide(self, session, t: float) -> None:
        pending = session.execute(select(Routing.id, Routing.application_id,
                                         Routing.institution_id, Routing.product_id,
                                         Routing.created_at)
                                  .where(Routing.status == RoutingStatus.PENDING)
                                  .order_by(Routing.id)).all()
        session.rollback()
        for routing in pending:
            a = self.applicant_of[routing.application_id]
            o, pos = self.outcomes[a], self.position_of[routing.product_id]
            if not o.answered[pos]:
                continue                     # silent or too slow: the expire job acts
            decided_at = (routing.created_at - EPOCH).total_seconds() + o.delay[pos]
            if decided_at > t:
                continue
            raw = self._decision(a, pos, routing.product_id, bool(o.approves[pos]))
            try:
                decisions.decide(session, institution_principal(routing.institution_id),
                                 routing.id, self.schemas[1].load(raw),
                                 request_hash=request_hash(raw),
                                 apr_cap=self.app.config["APR_CAP"], context=self.context)
            except decisions.states.InvalidTransition:
                continue

    def _decision(self, a: int, pos: int, product_id: int, approve: bool) -> dict:
        if not approve:
            return {"decision": "decline", "reasons": ["outside_risk_appetite"]}
        o = self.outcomes[a]
        unit, low, high = self.terms[product_id]
        term = int(np.clip(round(self.world.borrowers.term_days[a] / DAYS_PER[TermUnit(unit)]),
                           low, high))
        return {"decision": "approve", "amount": int(o.amount[pos]),
                "apr": round(float(o.apr[pos]), 4), "term": term, "term_unit": str(unit),
                "offer_expires_at": (self.clock.now + timedelta(days=3)).isoformat()}

    def _accept(self, session) -> None:
        """Borrowers whose waves are over (nothing pending) take an offer, if any."""
        from feedback.models import Offer, OfferStatus

        waiting = session.execute(
            select(Offer.application_id, Offer.id, Offer.product_id)
            .join(Application, Application.id == Offer.application_id)
            .where(Offer.status == OfferStatus.OPEN)
            .where(~select(Routing.id).where(Routing.application_id == Offer.application_id,
                                             Routing.status == RoutingStatus.PENDING)
                   .exists())).all()
        session.rollback()
        by_application: dict[str, list] = {}
        for application_id, offer_id, product_id in waiting:
            by_application.setdefault(application_id, []).append((offer_id, product_id))
        for application_id, choices in by_application.items():
            a = self.applicant_of[application_id]
            o = self.outcomes[a]
            ranked = sorted(choices, key=lambda c: (o.apr[self.position_of[c[1]]], c[0]))
            taken = next((c for c in ranked if o.takes[self.position_of[c[1]]]), None)
            if taken is None:
                continue
            offers.accept(session, self.borrower_app, application_id, taken[0], self.context)
            offer = session.get(Offer, taken[0])
            session.rollback()
            raw = {"offer_id": offer.id, "amount": offer.amount,
                   "funded_at": self.clock.now.isoformat()}
            loan, _ = loans.fund(session, institution_principal(offer.institution_id),
                                 self.schemas[2].load(raw), request_hash=request_hash(raw),
                                 now=self.clock.now)
            pos = self.position_of[offer.product_id]
            self.repay.append((self.seconds() + self.settings.repayment_lag, loan.id,
                               offer.institution_id, bool(o.bad[pos])))

    def _repay(self, session, t: float) -> None:
        due = [r for r in self.repay if r[0] <= t]
        self.repay = [r for r in self.repay if r[0] > t]
        for _, loan_id, institution_id, bad in due:
            at = self.clock.now.isoformat()
            loan = session.get(Loan, loan_id)
            session.rollback()
            event = ({"type": "charged_off", "at": at, "amount": loan.amount} if bad
                     else {"type": "paid_off", "at": at})
            loans.record_event(session, institution_principal(institution_id), loan_id,
                               self.schemas[3].load(event), now=self.clock.now)

    def result(self) -> Result:
        r = Result.empty("full engine, service layer", self.limit)
        with self.app.app_context():
            session = new_session()
            rows = session.execute(select(Routing.application_id, Routing.product_id,
                                          Routing.status, Routing.approval_probability,
                                          Routing.created_at).order_by(Routing.id)).all()
            funded = session.execute(select(Loan.application_id, Loan.product_id,
                                            Loan.amount)).all()
            session.close()
        cat = self.truth.catalogue
        for a, o in self.outcomes.items():
            codes = eligibility.reasons(cat, self.world.borrowers.applicant(a))
            r.matchable[a] = bool((o.approves & (codes == eligibility.ELIGIBLE)).any())
        for application_id, product_id, status, predicted, created_at in rows:
            a = self.applicant_of[application_id]
            o, pos = self.outcomes[a], self.position_of[product_id]
            r.inquiries[a] += 1
            approved = status == RoutingStatus.APPROVED
            r.approvals[a] += approved
            r.approved[a] |= approved
            r.routing_time.append(np.array([(created_at - EPOCH).total_seconds()]))
            r.routing_position.append(np.array([pos]))
            r.routing_predicted.append(np.array([predicted]))
            r.routing_approved.append(np.array([approved]))
            r.routing_true_p.append(np.array([o.p[pos] * o.answered[pos]]))
            r.routing_answered.append(np.array([bool(o.answered[pos])]))
        for application_id, product_id, amount in funded:
            a = self.applicant_of[application_id]
            o, pos = self.outcomes[a], self.position_of[product_id]
            r.funded[a], r.amount[a] = True, amount
            r.value[a] = float(self.settings.value(o.apr[pos], o.bad_probability[pos]))
            r.bad[a] = bool(o.bad[pos])
        return r
