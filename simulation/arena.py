"""The market's mechanics in memory, so that every routing policy can be run over the
same 50,000 arrivals in minutes: daily capacity counters, waves and the cascade, SLA
expiry, offers and take-up, funding and repayment, on simulated time.

The rules are the engine's own: a routing takes one unit of its product's and its
institution's daily application cap; one that expires without an answer gives it back;
a wave ends when every routing in it is answered or expired, and a wave without an
approval is followed by the next (leaving out every institution already tried), up to
``max_waves``. The borrower then takes the lowest-APR acceptable offer, the loan is
funded, and its outcome is known ``repayment_lag`` seconds later.

A policy (``simulation/policies.py``) only chooses each wave's products. It is told what
happened through ``observe`` and ``tick`` (the engine's scheduled jobs), never sees the
hidden world, and cannot change anyone's luck: every outcome is fixed in ``World.coins``.
"""

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from matching import eligibility
from matching.applicant import Applicant
from matching.scoring import ScoringSettings
from simulation.world import SECONDS_PER_DAY, Truth


@dataclass(frozen=True)
class Settings:
    k: int = 3
    max_waves: int = 3
    exploration_rate: float = 0.1
    model_every: float = 900.0        # seconds between the engine's model updates
    price_every: float = 3600.0       # seconds between capacity-price solves
    repayment_lag: float = 2 * SECONDS_PER_DAY
    scoring: ScoringSettings = field(default_factory=ScoringSettings)

    def value(self, apr: np.ndarray, bad_probability: np.ndarray) -> np.ndarray:
        """What a funded loan is worth: a borrower served (1), plus the value term of
        routing's objective (``matching/scoring.py``) at the true loss."""
        s = self.scoring
        return 1.0 + s.value_weight * (s.platform_fee_rate + s.apr_benefit_weight
                                       * np.maximum(s.apr_cap - apr, 0.0)
                                       - s.loss_given_default * bad_probability)


@dataclass
class Wave:
    applicant: int
    number: int
    started: float
    positions: np.ndarray
    approved: np.ndarray
    predicted: np.ndarray | None
    features: np.ndarray | None


@dataclass
class Result:
    """Per applicant and per routing records of one policy's run."""

    policy: str
    matchable: np.ndarray            # some eligible product would approve (ignoring caps)
    approved: np.ndarray             # got at least one approval
    inquiries: np.ndarray            # routings sent
    approvals: np.ndarray
    waves: np.ndarray
    funded: np.ndarray
    amount: np.ndarray
    value: np.ndarray                # value of the funded loan (0 if none)
    bad: np.ndarray                  # the funded loan went bad
    routing_time: list = field(default_factory=list)
    routing_position: list = field(default_factory=list)    # catalogue positions
    routing_predicted: list = field(default_factory=list)   # the policy's P(approve)
    routing_approved: list = field(default_factory=list)
    routing_true_p: list = field(default_factory=list)
    routing_answered: list = field(default_factory=list)    # within the SLA
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, policy: str, n: int) -> "Result":
        def zeros(dtype=float):
            return np.zeros(n, dtype=dtype)
        return cls(policy, zeros(bool), zeros(bool), zeros(int), zeros(int), zeros(int),
                   zeros(bool), zeros(), zeros(), zeros(bool))


class Market:
    """One policy's run over the world's arrivals."""

    ARRIVE, WAVE_END, REPAID, TICK = range(4)

    def __init__(self, truth: Truth, settings: Settings, policy, *,
                 progress: Callable[[str], None] | None = None, limit: int | None = None):
        self.truth, self.settings, self.policy = truth, settings, policy
        self.catalogue = truth.catalogue
        self.world = truth.world
        self.n = len(self.world.borrowers) if limit is None else limit
        self.progress = progress or (lambda _: None)
        cat = self.catalogue
        self.institutions = np.unique(cat.institution_id)
        self.inst_pos = np.searchsorted(self.institutions, cat.institution_id)
        self.product_cap = cat.product_cap
        self.institution_cap = np.full(len(self.institutions), np.inf)
        self.institution_cap[self.inst_pos] = cat.institution_cap
        self.used_product = np.zeros(cat.size)
        self.used_institution = np.zeros(len(self.institutions))
        self.day = 0
        self.result = Result.empty(policy.name, self.n)
        self.applicants: dict[int, Applicant] = {}
        self.outcomes: dict[int, object] = {}
        self.tried: dict[int, set[int]] = {}
        self.violations = 0
        self.events: list = []
        self.sequence = 0

    def push(self, at: float, kind: int, payload) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (at, kind, self.sequence, payload))

    # --- what policies may read -------------------------------------------------------

    def usage_of(self, product_ids: np.ndarray, institution_ids: np.ndarray):
        p = np.searchsorted(self.catalogue.product_id, product_ids)
        i = np.searchsorted(self.institutions, institution_ids)
        return self.used_product[p], self.used_institution[i]

    def open_positions(self, codes: np.ndarray, tried: set[int]) -> np.ndarray:
        """Eligible, not yet tried, with capacity left (what the engine's ``route``
        computes for itself)."""
        ok = codes == eligibility.ELIGIBLE
        ok &= self.used_product < self.product_cap
        ok &= self.used_institution[self.inst_pos] < self.institution_cap[self.inst_pos]
        if tried:
            ok &= ~np.isin(self.catalogue.institution_id, list(tried))
        return np.flatnonzero(ok)

    # --- the run ------------------------------------------------------------------------

    def run(self) -> Result:
        started = time.perf_counter()
        b = self.world.borrowers
        for a in range(self.n):
            self.push(float(b.arrival[a]), self.ARRIVE, a)
        horizon = float(b.arrival[self.n - 1]) if self.n else 0.0
        every = self.policy.tick_every(self.settings)
        if every:
            for t in np.arange(every, horizon + every, every).tolist():
                self.push(t, self.TICK, None)
        report_every = max(1, self.n // 10)
        while self.events:
            now, kind, _, payload = heapq.heappop(self.events)
            day = int(now // SECONDS_PER_DAY)
            if day != self.day:
                self.day = day
                self.used_product[:] = 0
                self.used_institution[:] = 0
            if kind == self.ARRIVE:
                self._wave(payload, 1, now)
                if (payload + 1) % report_every == 0:
                    self.progress(f"{self.policy.name}: {payload + 1:,}/{self.n:,} arrivals")
            elif kind == self.WAVE_END:
                self._wave_end(payload, now)
            elif kind == self.REPAID:
                self.policy.observe_repayment(self, *payload)
            else:
                self.policy.tick(self, now)
        self.result.seconds = time.perf_counter() - started
        self.result.extra["waves_after_midnight"] = self.violations
        return self.result

    def _wave(self, a: int, number: int, now: float):
        b = self.world.borrowers
        if number == 1:
            applicant = self.applicants[a] = b.applicant(a)
            outcomes = self.outcomes[a] = self.truth.outcomes(a, b.day(a))
            codes = eligibility.reasons(self.catalogue, applicant)
            self.result.matchable[a] = bool((outcomes.approves
                                             & (codes == eligibility.ELIGIBLE)).any())
            self.tried[a] = set()
        else:
            applicant, outcomes = self.applicants[a], self.outcomes[a]
            codes = eligibility.reasons(self.catalogue, applicant)
        if int(now // SECONDS_PER_DAY) != b.day(a):
            self.violations += 1
        choice = self.policy.route(self, a, applicant, codes, self.tried[a], number, now)
        positions = self._reserve(choice.positions)
        if len(positions) == 0:
            return self._finish(a)
        self.tried[a].update(self.catalogue.institution_id[positions].tolist())
        r = self.result
        r.inquiries[a] += len(positions)
        r.waves[a] = number
        approved = outcomes.approves[positions]
        r.approvals[a] += int(approved.sum())
        keep = np.isin(choice.positions, positions)
        predicted = None if choice.predicted is None else choice.predicted[keep]
        features = None if choice.features is None else choice.features[keep]
        r.routing_time.append(np.full(len(positions), now))
        r.routing_position.append(positions)
        r.routing_predicted.append(predicted if predicted is not None
                                   else np.full(len(positions), np.nan))
        r.routing_approved.append(approved)
        r.routing_true_p.append(outcomes.p[positions] * outcomes.answered[positions])
        r.routing_answered.append(outcomes.answered[positions])
        wave = Wave(a, number, now, positions, approved, predicted, features)
        self.push(now + float(outcomes.delay[positions].max()), self.WAVE_END, wave)

    def _reserve(self, positions: np.ndarray) -> np.ndarray:
        taken = []
        for pos in positions.tolist():
            i = self.inst_pos[pos]
            if (self.used_product[pos] < self.product_cap[pos]
                    and self.used_institution[i] < self.institution_cap[i]):
                self.used_product[pos] += 1
                self.used_institution[i] += 1
                taken.append(pos)
        return np.array(taken, dtype=np.int64)

    def _wave_end(self, wave: Wave, now: float):
        a, outcomes = wave.applicant, self.outcomes[wave.applicant]
        expired = wave.positions[~outcomes.answered[wave.positions]]
        if len(expired) and int(wave.started // SECONDS_PER_DAY) == self.day:
            self.used_product[expired] -= 1
            np.subtract.at(self.used_institution, self.inst_pos[expired], 1)
        self.policy.observe_wave(self, wave)
        if wave.approved.any():
            self.result.approved[a] = True
            offers = wave.positions[wave.approved]
            offers = offers[np.argsort(outcomes.apr[offers], kind="stable")]
            takes = outcomes.takes[offers]
            chosen = int(offers[np.argmax(takes)]) if takes.any() else None
            self.policy.observe_offers(self, a, offers, chosen)
            if chosen is not None:
                self._fund(a, chosen, now)
            return self._finish(a)
        if wave.number < self.settings.max_waves:
            return self._wave(a, wave.number + 1, now)
        return self._finish(a)

    def _fund(self, a: int, pos: int, now: float):
        o, r = self.outcomes[a], self.result
        r.funded[a] = True
        r.amount[a] = o.amount[pos]
        r.value[a] = float(self.settings.value(o.apr[pos], o.bad_probability[pos]))
        r.bad[a] = bool(o.bad[pos])
        self.push(now + self.settings.repayment_lag, self.REPAID,
                  (self.applicants[a], float(o.apr[pos]),
                   int(self.catalogue.institution_id[pos]), bool(o.bad[pos])))

    def _finish(self, a: int) -> None:
        self.applicants.pop(a, None)
        self.outcomes.pop(a, None)
        self.tried.pop(a, None)
