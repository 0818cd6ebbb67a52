"""Routing policies to compare on the same arrivals (``simulation/arena.py``).

* ``RandomK``: K eligible products with capacity, at random, one per institution.
* ``RulesByWeight``: the K with the highest ops weight, one per institution.
* ``Broadcast``: every eligible product with capacity (the most approvals money can buy,
  at one credit inquiry each).
* ``Engine``: lendmatch's own ``matching.engine.route`` (eligibility, scores, selection,
  capacity prices re-solved by ``learning.prices.solve`` as the ``capacity-prices`` job
  does). ``learning=False`` is the engine without learning (the rules-depth prior);
  ``learning=True`` the full engine: the posteriors of ``learning/`` updated on the
  decisions, offers and repayments it has seen, as the ``update-models`` job does, and
  Thompson exploration.
"""

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from learning.approval import ApprovalPosterior
from learning.predictor import LearnedPredictor
from learning.prices import Demand, PriceBoard, end_of_day, solve
from learning.pricing import HISTORY_DAYS, SAMPLE_SIZE
from learning.repayment import RepaymentPosterior
from learning.takeup import TakeupPosterior, offer_features
from matching import engine, features
from matching.predictions import RulesOnly

EPOCH = datetime(2026, 11, 2, tzinfo=UTC)   # simulated second 0
PRICE_STEP = 1.0


@dataclass(frozen=True)
class Choice:
    positions: np.ndarray
    predicted: np.ndarray | None = None     # the policy's P(approve), if it has one
    features: np.ndarray | None = None


class Policy:
    name = "policy"

    def tick_every(self, settings) -> float:
        return 0.0

    def route(self, market, a, applicant, codes, tried, wave, now) -> Choice:
        raise NotImplementedError

    def observe_wave(self, market, wave) -> None:
        pass

    def observe_offers(self, market, a, offers, chosen) -> None:
        pass

    def observe_repayment(self, market, applicant, apr, institution_id, bad) -> None:
        pass

    def tick(self, market, now) -> None:
        pass


def one_per_institution(market, ranked: np.ndarray, k: int | None) -> np.ndarray:
    """The first product of each institution in ``ranked``, at most ``k`` of them."""
    institution = market.catalogue.institution_id[ranked]
    _, first = np.unique(institution, return_index=True)
    return ranked[np.sort(first)][:k]


class RandomK(Policy):
    name = "random K"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([seed, 11])

    def route(self, market, a, applicant, codes, tried, wave, now) -> Choice:
        candidates = market.open_positions(codes, tried)
        return Choice(one_per_institution(market, self.rng.permutation(candidates),
                                          market.settings.k))


class RulesByWeight(Policy):
    name = "rules-only by weight"

    def route(self, market, a, applicant, codes, tried, wave, now) -> Choice:
        candidates = market.open_positions(codes, tried)
        ranked = candidates[np.argsort(-market.catalogue.weight[candidates], kind="stable")]
        return Choice(one_per_institution(market, ranked, market.settings.k))


class Broadcast(Policy):
    name = "broadcast"

    def route(self, market, a, applicant, codes, tried, wave, now) -> Choice:
        return Choice(market.open_positions(codes, tried))


class Engine(Policy):
    def __init__(self, *, learning: bool, seed: int, prices: bool = True):
        self.learning, self.prices = learning, prices
        self.name = "full engine" if learning else "engine without learning"
        self.rng = np.random.default_rng([seed, 13 if learning else 17])
        self.model = LearnedPredictor() if learning else RulesOnly()
        self.approval, self.takeup = ApprovalPosterior(), TakeupPosterior()
        self.repayment = RepaymentPosterior()
        self.updates = 0
        self._decisions: list = []
        self._offers: list = []
        self._loans: list = []
        self.demand: deque = deque(maxlen=SAMPLE_SIZE)
        self.arrivals: list[float] = []
        self.board: PriceBoard | None = None
        self.last_model = self.last_price = -np.inf
        self.solves: list[dict] = []

    def tick_every(self, settings) -> float:
        every = [settings.price_every] if self.prices else []
        if self.learning:
            every.append(settings.model_every)
        return min(every) if every else 0.0

    def route(self, market, a, applicant, codes, tried, wave, now) -> Choice:
        s = market.settings
        if wave == 1:
            self.arrivals.append(now)
        at = EPOCH + timedelta(seconds=now)
        board = self.board

        def price_of(positions, used_p, used_i):
            return board.price_of(market.catalogue, positions, used_p, used_i, at, at.date())

        decision = engine.route(
            market.catalogue, applicant, k=s.k, usage_of=market.usage_of,
            settings=s.scoring, model=self.model,
            exploration_rate=s.exploration_rate if self.learning else 0.0, rng=self.rng,
            price_of=price_of if board is not None else None,
            tried_institutions=frozenset(tried))
        scores = decision.scores
        if wave == 1 and len(scores.index):
            self.demand.append((market.catalogue.product_id[scores.index],
                                scores.score + scores.price))
        where = decision.chosen_in_scores
        predictions = scores.predictions
        return Choice(decision.chosen, predicted=predictions.mean[where],
                      features=None if predictions.features is None
                      else predictions.features[where])

    def observe_wave(self, market, wave) -> None:
        if self.learning and wave.features is not None:
            cat = market.catalogue
            self._decisions.append((wave.features, wave.approved,
                                    cat.institution_id[wave.positions],
                                    cat.product_id[wave.positions]))

    def observe_offers(self, market, a, offers, chosen) -> None:
        if self.learning:
            o = market.outcomes[a]
            F = offer_features(o.apr[offers], o.amount[offers], market.applicants[a].amount)
            self._offers.append((F, (offers == chosen).astype(float)))

    def observe_repayment(self, market, applicant, apr, institution_id, bad) -> None:
        if self.learning:
            self._loans.append((features.repayment_row(applicant, apr), bad, institution_id))

    def tick(self, market, now) -> None:
        s = market.settings
        if self.learning and now - self.last_model >= s.model_every - 1e-6:
            self.last_model = now
            self._update_models()
        if self.prices and now - self.last_price >= s.price_every - 1e-6:
            self.last_price = now
            self._solve_prices(market, now)

    def _update_models(self) -> None:
        changed = False
        if self._decisions:
            X, y, inst, prod = (np.concatenate(c) for c in zip(*self._decisions, strict=True))
            self.approval = self.approval.update(X, y, inst, prod)
            self._decisions, changed = [], True
        if self._offers:
            F = np.vstack([f for f, _ in self._offers])
            chosen = np.concatenate([c for _, c in self._offers])
            sets = np.concatenate([np.full(len(c), k) for k, (_, c) in enumerate(self._offers)])
            self.takeup = self.takeup.update(F, chosen, sets)
            self._offers, changed = [], True
        if self._loans:
            X = np.vstack([row for row, _, _ in self._loans])
            bad = np.array([b for _, b, _ in self._loans], dtype=float)
            inst = np.array([i for _, _, i in self._loans])
            self.repayment = self.repayment.update(X, bad, inst)
            self._loans, changed = [], True
        if changed:
            self.updates += 1
            self.model = LearnedPredictor(self.approval, self.takeup, self.repayment,
                                          {"approval": self.updates})

    def _forecast(self, now: float) -> float:
        """``learning.pricing.forecast_rest_of_day`` over the arrivals seen so far."""
        times = np.asarray(self.arrivals)
        at = EPOCH + timedelta(seconds=now)
        ends = (end_of_day(at, UTC) - EPOCH).total_seconds()
        totals = []
        for back in range(1, HISTORY_DAYS + 1):
            shift = back * 86_400
            if np.count_nonzero((times >= ends - shift - 86_400) & (times < ends - shift)):
                totals.append(np.count_nonzero((times >= now - shift)
                                               & (times < ends - shift)))
        if totals:
            return float(np.mean(totals))
        last_hour = np.count_nonzero(times >= now - 3600)
        return last_hour * (ends - now) / 3600.0

    def _solve_prices(self, market, now: float) -> None:
        if not self.demand:
            return
        cat = market.catalogue
        capped_p = np.isfinite(market.product_cap)
        capped_i = np.isfinite(market.institution_cap)
        used_p = dict(zip(cat.product_id[capped_p].tolist(),
                          market.used_product[capped_p].tolist(), strict=True))
        used_i = dict(zip(market.institutions[capped_i].tolist(),
                          market.used_institution[capped_i].tolist(), strict=True))
        ids, scores = zip(*self.demand, strict=True)
        result = solve(cat, Demand(list(ids), list(scores), self._forecast(now)), used_p,
                       used_i, market.settings.k)
        at = EPOCH + timedelta(seconds=now)
        self.board = PriceBoard(result["prices"], at, at.date(), end_of_day(at, UTC),
                                PRICE_STEP)
        self.solves.append(result["summary"])


def standard(seed: int) -> list[Policy]:
    """The five policies the outcome benchmark compares, in its table's order."""
    return [RandomK(seed), RulesByWeight(), Broadcast(), Engine(learning=False, seed=seed),
            Engine(learning=True, seed=seed)]
