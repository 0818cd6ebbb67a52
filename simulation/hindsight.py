"""The hindsight optimum: the most value any routing policy could have had on these
arrivals, knowing every institution's true answer, every borrower's take-up and every
loan's true default probability, under the same daily caps.

For each day, with its arrivals known, OR-Tools' GLOP solves

    max Σ_a Σ_j (v_aj - c) · x_aj
    s.t. Σ_j x_aj ≤ 1                       each applicant a: one loan at most
         Σ_a x_aj ≤ cap_j                   each capped product j
         Σ_a Σ_{j of I} x_aj ≤ cap_I        each capped institution I
         0 ≤ x_aj ≤ 1

over the eligible pairs whose institution would answer in time and approve and whose
offer the borrower would take; ``v`` is a funded loan's value (``Settings.value``) and
``c`` the inquiry cost. The constraint rows are two laminar families (applicants; products
inside institutions), so the matrix is totally unimodular and the simplex optimum is
integral: a real allocation, one routing per funded applicant.

Why no policy can beat it: a policy's funded loans are such pairs (its institutions
answered in time and approved, its borrowers took them), one per applicant; each took a
unit of cap that was never given back (only expired routings give capacity back), so
they satisfy the caps; and each cost at least its own inquiry. So they are a feasible
point of this LP, worth at least the policy's value.
"""

import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from matching import eligibility
from simulation.world import SECONDS_PER_DAY, Truth

TIME_LIMIT_SECONDS = 120


@dataclass
class Optimum:
    value: float
    funded: np.ndarray          # per applicant
    amount: np.ndarray
    bad: np.ndarray
    fractional: float           # largest distance of a solution value from 0 or 1
    seconds: float
    days: int


def solve(truth: Truth, settings, limit: int | None = None, progress=None) -> Optimum:
    started = time.perf_counter()
    world, cat = truth.world, truth.catalogue
    b = world.borrowers
    n = len(b) if limit is None else limit
    funded, amount, bad = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n, dtype=bool)
    institutions = np.unique(cat.institution_id)
    inst_pos = np.searchsorted(institutions, cat.institution_id)
    inst_cap = np.full(len(institutions), np.inf)
    inst_cap[inst_pos] = cat.institution_cap
    capped = np.isfinite(cat.product_cap) | np.isfinite(cat.institution_cap)
    cost = settings.scoring.inquiry_cost
    total, worst = 0.0, 0.0
    days = b.arrival[:n] // SECONDS_PER_DAY
    day_values = np.unique(days).tolist()
    for d in day_values:
        pairs = []   # (applicant, position, value, amount, bad)
        for a in np.flatnonzero(days == d).tolist():
            o = truth.outcomes(a, int(d))
            ok = (eligibility.reasons(cat, b.applicant(a)) == eligibility.ELIGIBLE)
            ok &= o.approves & o.takes
            candidates = np.flatnonzero(ok)
            if len(candidates) == 0:
                continue
            value = settings.value(o.apr[candidates], o.bad_probability[candidates]) - cost
            keep = value > 0
            candidates, value = candidates[keep], value[keep]
            # An uncapped pair beyond the applicant's best uncapped one can never help.
            free = ~capped[candidates]
            if free.sum() > 1:
                best = np.flatnonzero(free)[np.argmax(value[free])]
                keep = ~free
                keep[best] = True
                candidates, value = candidates[keep], value[keep]
            pairs += [(a, int(j), float(v), float(o.amount[j]), bool(o.bad[j]))
                      for j, v in zip(candidates.tolist(), value.tolist(), strict=True)]
        solver = pywraplp.Solver.CreateSolver("GLOP")
        solver.SetTimeLimit(TIME_LIMIT_SECONDS * 1000)
        objective = solver.Objective()
        objective.SetMaximization()
        rows_a, rows_p, rows_i = {}, {}, {}
        xs = []
        for a, j, v, _, _ in pairs:
            x = solver.NumVar(0, 1, "")
            objective.SetCoefficient(x, v)
            if a not in rows_a:
                rows_a[a] = solver.Constraint(0, 1)
            rows_a[a].SetCoefficient(x, 1)
            if np.isfinite(cat.product_cap[j]):
                if j not in rows_p:
                    rows_p[j] = solver.Constraint(0, float(cat.product_cap[j]))
                rows_p[j].SetCoefficient(x, 1)
            i = int(inst_pos[j])
            if np.isfinite(inst_cap[i]):
                if i not in rows_i:
                    rows_i[i] = solver.Constraint(0, float(inst_cap[i]))
                rows_i[i].SetCoefficient(x, 1)
            xs.append(x)
        if xs:
            status = solver.Solve()
            if status != pywraplp.Solver.OPTIMAL:
                raise RuntimeError(f"hindsight LP for day {d} ended with status {status}")
            total += objective.Value()
            for x, (a, _, _, amt, is_bad) in zip(xs, pairs, strict=True):
                s = x.solution_value()
                worst = max(worst, min(abs(s), abs(1 - s)))
                if s > 0.5:
                    funded[a], amount[a], bad[a] = True, amt, is_bad
        if progress:
            progress(f"hindsight: day {int(d) + 1}/{len(day_values)}, {len(pairs):,} pairs")
    return Optimum(total, funded, amount, bad, worst, time.perf_counter() - started,
                   len(day_values))
