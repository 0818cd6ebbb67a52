"""A whole simulated market, vectorised: ~100 institutions with hidden policies and their
products, a population of mostly thin-file borrowers arriving over several days, and every
random outcome fixed in advance so that each routing policy meets exactly the same world.

**What lendmatch sees** is the catalogue (``institution_body`` / ``product_body``: public
rules, APR ranges, caps, SLAs) and each applicant's form. **What it does not see**:

* *Approval.* Institution *I*'s product *j* approves applicant *a* with probability
  ``sigmoid(base_j + income_w·ln(income/6000) − dti_w·DTI − risk_w·risk + region_j[a]
  + score term + noise_aj + drift_j(day))``, where a thin-file applicant gets
  ``−thin_penalty`` instead of the score term; asks above the institution's hidden
  amount appetite, or bureau scores under its hidden floor, are approved with
  probability ``GATED``. ``risk`` is the borrower's latent risk, which institutions
  partly observe through their own data.
* *SLA behaviour.* Each institution answers after a log-normal delay around its median;
  some are slow (often past their SLA) and a few mostly silent. An answer later than the
  SLA never arrives: the routing expires.
* *Drift.* A few institutions change policy at the start of ``drift_day``: some stop
  lending to nearly everyone, some loosen.
* *Take-up.* A borrower takes the lowest-APR offer among the acceptable ones; an offer
  is acceptable with probability ``sigmoid(2.5 − 12·(apr − 0.15) − 4·shortfall)``.
* *Repayment.* P(bad) = ``sigmoid(−3.6 + 1.2·risk + 5·(apr − 0.15) + collection_I)``.

**Fixed in advance** (``Coins``): per applicant, one uniform per product for approval and
for take-up, one for repayment, per institution a delay; drawn from a generator seeded by
``(seed, applicant)``, so a policy's choices never change another applicant's luck.
"""

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from matching.applicant import Applicant
from matching.catalogue import CHANNEL_INDEX, EMPLOYMENT_INDEX, REGION_INDEX, CompiledCatalogue

REGIONS = ("CN-GD", "CN-ZJ", "CN-JS", "CN-SH", "CN-BJ", "CN-SD", "CN-HA", "CN-SC", "CN-HB",
           "CN-HN", "CN-FJ", "CN-AH")
REGION_SHARE = np.array([14, 11, 10, 7, 6, 10, 9, 8, 7, 7, 6, 5], dtype=float)
GATED = 0.01
SCORED_SHARE = 0.3
KINDS = ("bank", "consumer_finance", "microlender")
KIND_SHARE = (0.2, 0.45, 0.35)
SECONDS_PER_DAY = 86_400
OPEN_HOURS = (8.0, 20.0)   # local arrival window; every wave ends before midnight


@dataclass(frozen=True)
class InstitutionSpec:
    name: str
    kind: str
    regions: tuple[str, ...]        # licensed (public)
    sla_seconds: int                # public
    cap: int | None                 # public daily application cap
    # hidden
    base: float
    income_weight: float
    dti_weight: float
    risk_weight: float
    score_weight: float
    thin_penalty: float
    noise: float
    liked: tuple[str, ...]
    region_bonus: float
    amount_appetite: float
    score_floor: float
    median_delay: float             # seconds
    silent_share: float
    collection: float               # repayment offset
    drift: float = 0.0              # added to ``base`` from ``drift_day`` on


@dataclass(frozen=True)
class ProductSpec:
    institution: int                # index into World.institutions
    name: str
    amount: tuple[int, int]
    term: tuple[int, int]
    term_unit: str
    apr: tuple[float, float]
    accepts_no_score: bool
    score_min: int | None
    income_min: int
    dti_max: float | None
    weight: float                   # ops weight
    shift: float                    # hidden, on top of the institution's base


@dataclass(frozen=True)
class Borrowers:
    """Structure of arrays, one entry per applicant, in arrival order."""

    arrival: np.ndarray             # seconds since the start of the run
    age: np.ndarray
    region: np.ndarray              # index into REGIONS
    income: np.ndarray
    debt: np.ndarray
    score: np.ndarray               # nan: thin file
    first_loan: np.ndarray
    amount: np.ndarray
    term: np.ndarray
    term_days: np.ndarray
    risk: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival)

    def day(self, a: int) -> int:
        return int(self.arrival[a] // SECONDS_PER_DAY)

    def applicant(self, a: int) -> Applicant:
        score = self.score[a]
        return Applicant(age=int(self.age[a]), region=REGION_INDEX[REGIONS[self.region[a]]],
                         monthly_income=float(self.income[a]),
                         employment=EMPLOYMENT_INDEX["salaried"],
                         credit_score=float(score), monthly_debt=float(self.debt[a]),
                         first_loan=bool(self.first_loan[a]), amount=float(self.amount[a]),
                         term_days=float(self.term_days[a]), channel=CHANNEL_INDEX["app"])

    def body(self, a: int, given_at: str) -> dict:
        """The ``POST /v1/applications`` body of applicant ``a``."""
        score = self.score[a]
        unit = "day" if self.term_days[a] == self.term[a] else "month"
        return {
            "applicant": {"external_id": f"world-{a}", "age": int(self.age[a]),
                          "region": REGIONS[self.region[a]],
                          "monthly_income": int(self.income[a]), "employment": "salaried",
                          "credit_score": None if math.isnan(score) else int(score),
                          "monthly_debt": int(self.debt[a]),
                          "first_loan": bool(self.first_loan[a]), "signals": {}},
            "request": {"amount": int(self.amount[a]), "term": int(self.term[a]),
                        "term_unit": unit, "purpose": "consumption"},
            "channel": "app",
            "consent": {"version": "sim-1", "given_at": given_at},
        }


@dataclass(frozen=True)
class Coins:
    approve: np.ndarray   # [products]
    take: np.ndarray      # [products]
    bad: float
    delay: np.ndarray     # [institutions], seconds
    noise: np.ndarray     # [products], standard normal


@dataclass
class World:
    seed: int
    institutions: list[InstitutionSpec]
    products: list[ProductSpec]
    borrowers: Borrowers
    days: int
    drift_day: int
    name: str = "default"
    hidden: dict = field(default_factory=dict)   # arrays aligned with a catalogue

    # --- the catalogue as lendmatch sees it ---------------------------------------------

    def institution_body(self, i: int) -> dict:
        spec = self.institutions[i]
        return {"name": spec.name, "kind": spec.kind, "licensed_regions": list(spec.regions),
                "decision_sla_seconds": spec.sla_seconds, "daily_application_cap": spec.cap,
                "daily_funding_budget": None}

    def product_body(self, j: int, institution_id: int) -> dict:
        spec = self.products[j]
        return {"institution_id": institution_id, "name": spec.name, "type": "cash_loan",
                "amount_min": spec.amount[0], "amount_max": spec.amount[1],
                "term_min": spec.term[0], "term_max": spec.term[1],
                "term_unit": spec.term_unit, "apr_min": spec.apr[0], "apr_max": spec.apr[1],
                "rules": {"age_min": 20, "age_max": 60, "income_min": spec.income_min,
                          "score_min": spec.score_min,
                          "accepts_no_score": spec.accepts_no_score,
                          "dti_max": spec.dti_max, "regions": [], "regions_excluded": [],
                          "employment": [], "channels": [], "borrowers": "any"},
                "daily_application_cap": None, "daily_funding_cap": None,
                "weight": spec.weight}

    def with_caps(self, caps: dict[int, int]) -> "World":
        """The same world with these institutions' daily application caps."""
        institutions = [replace(spec, cap=caps.get(i, spec.cap))
                        for i, spec in enumerate(self.institutions)]
        return replace(self, institutions=institutions, hidden={})

    # --- the hidden side, aligned with a compiled catalogue ----------------------------

    def align(self, catalogue: CompiledCatalogue, product_ids: list[int]) -> "Truth":
        """``product_ids[j]`` is the id product *j* got when installed."""
        position = {pid: k for k, pid in enumerate(catalogue.product_id.tolist())}
        order = np.array([position[pid] for pid in product_ids])   # spec j → position
        return Truth(self, catalogue, order)

    def coins(self, a: int) -> Coins:
        rng = np.random.default_rng([self.seed, 7, a])
        n, m = len(self.products), len(self.institutions)
        approve, take, noise = rng.random(n), rng.random(n), rng.standard_normal(n)
        bad = float(rng.random())
        medians = np.array([spec.median_delay for spec in self.institutions])
        delay = medians * np.exp(0.8 * rng.standard_normal(m))
        silent = rng.random(m) < np.array([spec.silent_share for spec in self.institutions])
        return Coins(approve, take, bad, np.where(silent, np.inf, delay), noise)


class Truth:
    """The hidden policies as arrays over catalogue positions, and the outcomes of one
    applicant against every product."""

    def __init__(self, world: World, catalogue: CompiledCatalogue, order: np.ndarray):
        self.world, self.catalogue = world, catalogue
        n = catalogue.size
        self.spec_of = np.empty(n, dtype=np.int64)    # position → product spec index
        self.spec_of[order] = np.arange(len(order))
        products = [world.products[j] for j in self.spec_of.tolist()]
        inst = [world.institutions[p.institution] for p in products]
        self.institution_of = np.array([p.institution for p in products])

        def col(values):
            return np.array(values, dtype=float)

        self.base = col([i.base + p.shift for i, p in zip(inst, products, strict=True)])
        self.drift = col([i.drift for i in inst])
        self.income_weight = col([i.income_weight for i in inst])
        self.dti_weight = col([i.dti_weight for i in inst])
        self.risk_weight = col([i.risk_weight for i in inst])
        self.score_weight = col([i.score_weight for i in inst])
        self.thin_penalty = col([i.thin_penalty for i in inst])
        self.noise = col([i.noise for i in inst])
        self.appetite = col([i.amount_appetite for i in inst])
        self.score_floor = col([i.score_floor for i in inst])
        self.collection = col([i.collection for i in inst])
        self.sla = col([i.sla_seconds for i in inst])
        self.region_bonus = np.array([[i.region_bonus if r in i.liked else 0.0
                                       for r in REGIONS] for i in inst])
        self.apr_min, self.apr_max = catalogue.apr_min, catalogue.apr_max

    def approval(self, a: int, coins: Coins, day: int) -> np.ndarray:
        """True P(approve) of applicant ``a`` at every catalogue position, on ``day``."""
        b = self.world.borrowers
        score = b.score[a]
        logit = (self.base + self.income_weight * math.log(b.income[a] / 6000)
                 - self.dti_weight * b.debt[a] / b.income[a] - self.risk_weight * b.risk[a]
                 + self.region_bonus[:, b.region[a]] + self.noise * coins.noise[self.spec_of])
        if day >= self.world.drift_day:
            logit = logit + self.drift
        if math.isnan(score):
            logit = logit - self.thin_penalty
            gated = np.zeros(len(logit), dtype=bool)
        else:
            logit = logit + self.score_weight * (score - 650) / 100
            gated = score < self.score_floor
        gated |= b.amount[a] > self.appetite
        return np.where(gated, GATED, 1.0 / (1.0 + np.exp(-logit)))

    def outcomes(self, a: int, day: int) -> "Outcomes":
        coins = self.world.coins(a)
        b = self.world.borrowers
        p = self.approval(a, coins, day)
        delay = coins.delay[self.institution_of]
        answered = delay <= self.sla
        approves = answered & (coins.approve[self.spec_of] < p)
        apr = self.apr_min + (self.apr_max - self.apr_min) / (1 + math.exp(-1.5 * b.risk[a]))
        amount = np.minimum(np.minimum(b.amount[a], self.appetite), self.catalogue.amount_max)
        shortfall = 1.0 - amount / b.amount[a]
        takes = coins.take[self.spec_of] < 1 / (1 + np.exp(-(2.5 - 12 * (apr - 0.15)
                                                             - 4 * shortfall)))
        bad_p = 1 / (1 + np.exp(-(-3.6 + 1.2 * b.risk[a] + 5 * (apr - 0.15)
                                  + self.collection)))
        return Outcomes(p=p, answered=answered, approves=approves,
                        delay=np.where(answered, delay, self.sla), apr=apr, amount=amount,
                        takes=takes, bad_probability=bad_p, bad=coins.bad < bad_p)


@dataclass(frozen=True)
class Outcomes:
    """What would happen if applicant *a* were routed to each catalogue position."""

    p: np.ndarray                # true approval probability
    answered: np.ndarray         # answers within its SLA
    approves: np.ndarray         # answers and approves
    delay: np.ndarray            # seconds until the answer, or the SLA if none
    apr: np.ndarray              # APR it would offer
    amount: np.ndarray           # amount it would offer
    takes: np.ndarray            # the borrower would accept that offer
    bad_probability: np.ndarray
    bad: np.ndarray              # the loan would go bad

    @cached_property
    def order(self) -> np.ndarray:
        return np.argsort(self.apr, kind="stable")


# --- generating a world -----------------------------------------------------------------

def generate(seed: int = 0, *, institutions: int = 100, applicants: int = 50_000,
             days: int = 10, drift_day: int | None = None) -> World:
    """The default scenario (see the module docstring). Caps are set afterwards from a
    pilot run (``simulation.scenario.set_caps``)."""
    rng = np.random.default_rng([seed, 1])
    specs, products = [], []
    for i in range(institutions):
        kind = KINDS[int(rng.choice(3, p=KIND_SHARE))]
        specs.append(_institution(rng, i, kind))
        for n in range(int(rng.integers(1, 5))):
            products.append(_product(rng, i, kind, n))
    drifting = rng.choice(institutions, size=max(2, institutions // 10), replace=False)
    for k, i in enumerate(drifting.tolist()):
        specs[i] = replace(specs[i], drift=-4.0 if k % 2 == 0 else 1.5)
    return World(seed=seed, institutions=specs, products=products,
                 borrowers=borrowers(np.random.default_rng([seed, 2]), applicants, days),
                 days=days, drift_day=days // 2 if drift_day is None else drift_day)


def _institution(rng, i: int, kind: str) -> InstitutionSpec:
    regions = tuple(sorted(rng.choice(REGIONS, size=int(rng.integers(6, len(REGIONS) + 1)),
                                      replace=False).tolist()))
    behaviour = rng.random()
    if behaviour < 0.05:
        median, silent = 300.0, 0.7           # mostly silent
    elif behaviour < 0.2:
        median, silent = 1500.0, 0.05         # slow: often past a 30-minute SLA
    else:
        median, silent = float(rng.uniform(5, 300)), 0.02
    common = {"name": f"Sim {kind.replace('_', ' ')} {i:03d}", "kind": kind,
              "regions": regions, "cap": None, "noise": float(rng.uniform(0.2, 0.8)),
              "liked": tuple(rng.choice(regions, size=min(3, len(regions)),
                                        replace=False).tolist()),
              "region_bonus": float(rng.uniform(0.5, 2.0)), "median_delay": median,
              "silent_share": silent, "collection": float(rng.normal(0, 0.3)),
              "sla_seconds": 1800}
    if kind == "bank":
        return InstitutionSpec(**common, base=float(rng.normal(-0.8, 1.0)),
                               income_weight=float(rng.uniform(0.5, 1.5)),
                               dti_weight=float(rng.uniform(2, 5)),
                               risk_weight=float(rng.uniform(0.5, 1.2)),
                               score_weight=float(rng.uniform(1.5, 3)), thin_penalty=3.0,
                               amount_appetite=float(rng.choice([30_000, 50_000])),
                               score_floor=float(rng.uniform(600, 680)))
    if kind == "consumer_finance":
        return InstitutionSpec(**common, base=float(rng.normal(-2.0, 1.3)),
                               income_weight=float(rng.uniform(0.5, 2)),
                               dti_weight=float(rng.uniform(1, 4)),
                               risk_weight=float(rng.uniform(0.6, 1.5)),
                               score_weight=float(rng.uniform(0.5, 2)),
                               thin_penalty=float(rng.uniform(0.5, 2.5)),
                               amount_appetite=float(rng.choice([10_000, 20_000, 30_000])),
                               score_floor=float(rng.uniform(450, 580)))
    return InstitutionSpec(**common, base=float(rng.normal(-1.6, 1.3)),
                           income_weight=float(rng.uniform(0.2, 1)),
                           dti_weight=float(rng.uniform(0.5, 2)),
                           risk_weight=float(rng.uniform(0.4, 1.2)),
                           score_weight=float(rng.uniform(0.2, 1)),
                           thin_penalty=float(rng.uniform(0.3, 1.5)),
                           amount_appetite=float(rng.choice([3000, 5000, 8000])),
                           score_floor=float(rng.uniform(400, 520)))


def _product(rng, i: int, kind: str, n: int) -> ProductSpec:
    weight = float(np.round(rng.uniform(0.5, 2.0), 2))
    shift = float(rng.normal(0, 0.4))
    if kind == "bank":
        low = float(np.round(rng.uniform(0.06, 0.10), 3))
        return ProductSpec(i, f"Bank loan {i}-{n}", (5000, 50_000), (6, 36), "month",
                           (low, round(low + 0.05, 3)), False, 600, 5000, 0.5, weight, shift)
    if kind == "consumer_finance":
        low = float(np.round(rng.uniform(0.12, 0.17), 3))
        return ProductSpec(i, f"Instalment {i}-{n}", (1000, 30_000), (3, 24), "month",
                           (low, round(min(low + 0.06, 0.24), 3)), True, None,
                           int(rng.choice([2000, 3000])), 0.8, weight, shift)
    low = float(np.round(rng.uniform(0.18, 0.21), 3))
    if n % 2 == 0:
        return ProductSpec(i, f"Quick cash {i}-{n}", (500, 5000), (7, 30), "day",
                           (low, 0.24), True, None, 1500, None, weight, shift)
    return ProductSpec(i, f"Small instalment {i}-{n}", (1000, 10_000), (1, 12), "month",
                       (low, 0.24), True, None, 1500, None, weight, shift)


def borrowers(rng: np.random.Generator, n: int, days: int) -> Borrowers:
    per_day = np.bincount(np.sort(rng.integers(0, days, n)), minlength=days)
    open_, close = (h * 3600 for h in OPEN_HOURS)
    arrival = np.concatenate([d * SECONDS_PER_DAY + np.sort(rng.uniform(open_, close, c))
                              for d, c in enumerate(per_day.tolist())])
    risk = rng.standard_normal(n)
    income = np.clip(np.exp(rng.normal(math.log(6500), 0.5, n) - 0.2 * risk), 1800, 80_000)
    debt = income * np.clip(rng.beta(2, 7, n) * (1 + 0.4 * np.maximum(risk, 0)), 0, 1.2)
    scored = rng.random(n) < SCORED_SHARE
    score = np.where(scored, np.clip(660 - 55 * risk + rng.normal(0, 25, n), 400, 850), np.nan)
    short = rng.random(n) < 0.3
    amount = np.where(short, rng.choice([500, 1000, 2000, 3000, 5000], n),
                      rng.choice([2000, 3000, 5000, 8000, 10_000, 20_000, 30_000], n,
                                 p=[0.15, 0.2, 0.25, 0.15, 0.12, 0.08, 0.05]))
    term = np.where(short, rng.choice([7, 14, 30], n), rng.choice([3, 6, 12, 24], n))
    term_days = np.where(short, term, term * 30)
    return Borrowers(arrival=arrival, age=rng.integers(20, 58, n),
                     region=rng.choice(len(REGIONS), n, p=REGION_SHARE / REGION_SHARE.sum()),
                     income=np.round(income), debt=np.round(debt),
                     score=np.where(scored, np.round(score), np.nan),
                     first_loan=rng.random(n) < 0.6, amount=amount.astype(float),
                     term=term, term_days=term_days.astype(float), risk=risk)
