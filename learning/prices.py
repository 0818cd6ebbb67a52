"""Shadow prices of each capped product's and institution's remaining daily capacity.

**The solve** (``solve``, run by the ``capacity-prices`` job). Demand for the rest of the
local day is forecast from the same hours of the previous days (or, without history, from
the last hour's rate), and represented by a sample of recent first waves, each with the
scores its eligible products had before any price. The LP

    max Σ_j Σ_i s_ji · x_ji
    s.t. Σ_i x_ji ≤ K·n_j,  Σ_{i of institution I} x_ji ≤ n_j,  0 ≤ x_ji ≤ n_j   (each sample j)
         Σ_j x_ji ≤ remaining_i        (each capped product i)
         Σ_j Σ_{i of I} x_ji ≤ remaining_I   (each capped institution I)

(``n_j``: arrivals sample j stands for) is solved with GLOP. The dual value of a capacity
row is what one more routing of that product costs the rest of the day's applicants, in
score units: routing subtracts it.

**Between solves** prices move online, by dual (sub)gradient descent on the same
constraints: every routing beyond the solve's plan raises a price by ``PRICE_STEP / cap``
and every one short of it lowers it, never below zero. Summed since the solve this is

    λ(t) = max(0, λ_solve + PRICE_STEP · (used(t) - planned(t)) / cap)

with ``planned(t)`` the solve's plan spread evenly to the end of the day, so every worker
computes the same price from the counters it already reads, with no state of its own.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np
from ortools.linear_solver import pywraplp

from matching.catalogue import CompiledCatalogue

TIME_LIMIT_SECONDS = 20
PRICE_DIGITS = 6


@dataclass(frozen=True)
class Demand:
    """A sample of recent first waves: for each, the catalogue product ids it could have
    gone to and their scores before any price."""

    product_ids: list[np.ndarray]
    scores: list[np.ndarray]
    forecast: float          # arrivals expected for the rest of the day


def end_of_day(now: datetime, zone) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


def solve(catalogue: CompiledCatalogue, demand: Demand, used_product: dict[int, int],
          used_institution: dict[int, int], k: int, *, prune: bool = True) -> dict:
    """Prices and the plan for every capped product and institution. ``prune=False``
    states every positive product of every sample (the tests check it is the same LP)."""
    product_cap = dict(zip(catalogue.product_id.tolist(), catalogue.product_cap.tolist(),
                           strict=True))
    institution_of = dict(zip(catalogue.product_id.tolist(),
                              catalogue.institution_id.tolist(), strict=True))
    institution_cap = dict(zip(catalogue.institution_id.tolist(),
                               catalogue.institution_cap.tolist(), strict=True))
    solver = pywraplp.Solver.CreateSolver("GLOP")
    solver.SetTimeLimit(TIME_LIMIT_SECONDS * 1000)
    samples = len(demand.product_ids)
    share = demand.forecast / samples if samples else 0.0
    objective = solver.Objective()
    objective.SetMaximization()
    by_product: dict[int, list] = {}
    by_institution: dict[int, list] = {}
    priced = _priced_institutions(catalogue)
    for ids, scores in zip(demand.product_ids, demand.scores, strict=True):
        if prune:
            ids, scores = _relevant(catalogue, priced, ids, scores, k)
        per_sample = solver.Constraint(0, k * share)
        per_institution: dict[int, object] = {}
        for product, s in zip(ids.tolist(), scores.tolist(), strict=True):
            if s <= 0 or product not in product_cap:
                continue
            x = solver.NumVar(0, share, "")
            objective.SetCoefficient(x, s)
            per_sample.SetCoefficient(x, 1)
            institution = institution_of[product]
            if institution not in per_institution:
                per_institution[institution] = solver.Constraint(0, share)
            per_institution[institution].SetCoefficient(x, 1)
            by_product.setdefault(product, []).append(x)
            by_institution.setdefault(institution, []).append(x)
    rows = {"products": {}, "institutions": {}}
    caps = (("products", by_product, product_cap, used_product),
            ("institutions", by_institution, institution_cap, used_institution))
    constraints = []
    for scope, variables, cap_of, used_of in caps:
        for object_id, xs in variables.items():
            cap = cap_of[object_id]
            if not np.isfinite(cap):
                continue
            remaining = max(0.0, cap - used_of.get(object_id, 0))
            row = solver.Constraint(0, remaining)
            for x in xs:
                row.SetCoefficient(x, 1)
            constraints.append((scope, object_id, row, xs, cap, used_of.get(object_id, 0)))
    status = solver.Solve() if constraints else pywraplp.Solver.OPTIMAL
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise RuntimeError(f"capacity price LP ended with status {status}")
    for scope, object_id, row, xs, cap, used in constraints:
        rows[scope][str(object_id)] = {
            "price": round(max(0.0, row.dual_value()), PRICE_DIGITS),
            "cap": cap, "used": used,
            "planned_rest": round(sum(x.solution_value() for x in xs), 3),
            "demand_rest": round(sum(x.ub() for x in xs), 3),
        }
    return {"prices": rows, "summary": {
        "samples": samples, "forecast_rest_of_day": round(demand.forecast, 3),
        "objective": round(objective.Value(), 6) if constraints else 0.0,
        "priced": sum(1 for scope in rows.values() for r in scope.values() if r["price"] > 0),
    }}


def _priced_institutions(catalogue: CompiledCatalogue) -> np.ndarray:
    """Institution ids with a cap of their own or on any of their products."""
    capped = np.isfinite(catalogue.product_cap) | np.isfinite(catalogue.institution_cap)
    return np.unique(catalogue.institution_id[capped])


def _relevant(catalogue: CompiledCatalogue, priced: np.ndarray, ids: np.ndarray,
              scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample's products that can matter to the LP: every positive one of an
    institution with a cap, and of the rest only the ``k`` best of each institution's
    best. (Exchange argument: a plan using any other uncapped product can swap it, unit
    for unit, for one of those ``k`` whose institution it leaves free, at no loss.)"""
    position = np.searchsorted(catalogue.product_id, ids)
    known = position < len(catalogue.product_id)
    known[known] = catalogue.product_id[position[known]] == ids[known]
    keep = known & (scores > 0)
    ids, scores, position = ids[keep], scores[keep], position[keep]
    institution = catalogue.institution_id[position]
    capped = np.isin(institution, priced)
    free = np.flatnonzero(~capped)
    order = free[np.lexsort((-scores[free], institution[free]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = institution[order][1:] != institution[order][:-1]
    best = order[first]
    best = best[np.argsort(-scores[best], kind="stable")[:k]]
    chosen = np.sort(np.concatenate([np.flatnonzero(capped), best]))
    return ids[chosen], scores[chosen]


class PriceBoard:
    """One solve, compiled against a catalogue, answering ``price_of`` on the request
    path (see the module docstring for the online step)."""

    def __init__(self, prices: dict, solved_at: datetime, day, ends_at: datetime,
                 step: float):
        self.prices, self.solved_at, self.day = prices, solved_at, day
        self.ends_at, self.step = ends_at, step
        self._compiled = None

    def _arrays(self, catalogue: CompiledCatalogue):
        if self._compiled is None or self._compiled[0] != catalogue.version:
            def column(scope, ids, key):
                table = self.prices.get(scope, {})
                return np.array([table.get(str(i), {}).get(key, np.nan)
                                 for i in ids.tolist()], dtype=float)
            arrays = {}
            for scope, ids in (("products", catalogue.product_id),
                               ("institutions", catalogue.institution_id)):
                arrays[scope] = {key: column(scope, ids, key)
                                 for key in ("price", "used", "planned_rest", "cap")}
            self._compiled = (catalogue.version, arrays)
        return self._compiled[1]

    def price_of(self, catalogue: CompiledCatalogue, positions: np.ndarray,
                 used_product: np.ndarray, used_institution: np.ndarray,
                 now: datetime, day) -> np.ndarray:
        if day != self.day or len(positions) == 0:
            return np.zeros(len(positions))
        arrays = self._arrays(catalogue)
        span = (self.ends_at - self.solved_at).total_seconds()
        elapsed = min(max((now - self.solved_at).total_seconds(), 0.0), span)
        fraction = elapsed / span if span > 0 else 1.0
        total = np.zeros(len(positions))
        for scope, used in (("products", used_product), ("institutions", used_institution)):
            a = {key: values[positions] for key, values in arrays[scope].items()}
            priced = np.isfinite(a["price"])
            planned = a["used"] + a["planned_rest"] * fraction
            cap = np.where(priced & (a["cap"] > 0), a["cap"], 1.0)
            online = np.maximum(0.0, a["price"] + self.step * (used - planned) / cap)
            total += np.where(priced, online, 0.0)
        return total
