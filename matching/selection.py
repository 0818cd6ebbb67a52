"""Choosing the products to route: at most ``k``, at most one per institution, only
where capacity remains, maximising the sum of their scores.

The constraints are a partition matroid (one per institution) intersected with a
cardinality limit, and the objective is additive, so an exact answer is: keep each
institution's best available product, then the ``k`` best of those with a positive score.
Exchange argument: any feasible set can swap each member for its institution's best
without losing score, and then holds at most ``k`` of the per-institution bests, which the
``k`` largest positive ones dominate. That runs in microseconds; ``solve_with_cp_sat``
states the same problem for OR-Tools' CP-SAT, and the tests check the two agree.
"""

from dataclasses import dataclass

import numpy as np


def select(score: np.ndarray, group: np.ndarray, k: int,
           available: np.ndarray | None = None) -> np.ndarray:
    """Positions into ``score`` of the chosen products, best first. Ties go to the lower
    position (the catalogue is ordered by product id, so: the older product)."""
    position = np.arange(len(score))
    keep = score > 0
    if available is not None:
        keep &= available
    position, score, group = position[keep], score[keep], group[keep]
    if len(position) == 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    by_group = np.lexsort((position, -score, group))
    first = np.ones(len(by_group), dtype=bool)
    first[1:] = group[by_group][1:] != group[by_group][:-1]
    best = by_group[first]
    ranked = best[np.lexsort((position[best], -score[best]))]
    return position[ranked[:k]]


def chosen_many(scores: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """``select`` applied to each row of ``scores`` [M, n] at once: a boolean [M, n] of
    the products each row would route (ties, which continuous samples make vanishingly
    rare, may admit one more). Used to estimate selection propensities."""
    m, n = scores.shape
    if n == 0 or k <= 0:
        return np.zeros((m, n), dtype=bool)
    order = np.argsort(group, kind="stable")
    grouped = scores[:, order]
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    best = np.maximum.reduceat(grouped, starts, axis=1)            # [M, groups]
    sizes = np.diff(np.r_[starts, n])
    is_best = grouped == np.repeat(best, sizes, axis=1)
    kth = min(k, best.shape[1])
    threshold = -np.partition(-best, kth - 1, axis=1)[:, kth - 1]  # k-th best group
    picked = is_best & (grouped >= threshold[:, None]) & (grouped > 0)
    chosen = np.empty_like(picked)
    chosen[:, order] = picked
    return chosen


@dataclass(frozen=True)
class SolverResult:
    chosen: np.ndarray     # positions, in no particular order
    objective: int         # in units of 1 / scale
    optimal: bool


def solve_with_cp_sat(score: np.ndarray, group: np.ndarray, k: int,
                      product_available: np.ndarray, group_available: np.ndarray, *,
                      scale: float = 1e9, time_limit_seconds: float = 10.0, workers: int = 1,
                      seed: int = 0) -> SolverResult:
    """The selection problem as a CP-SAT model, capacity written as constraints rather
    than filtered out. Scores are scaled to integers (``round(score * scale)``)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"x{i}") for i in range(len(score))]
    for i, available in enumerate(product_available):
        if not available:
            model.add(chosen[i] == 0)
    for g, available in enumerate(group_available):
        members = [chosen[i] for i in np.flatnonzero(group == g)]
        if members:
            model.add(sum(members) <= (1 if available else 0))
    model.add(sum(chosen) <= k)
    coefficients = [int(round(s * scale)) for s in score]
    model.maximize(sum(c * x for c, x in zip(coefficients, chosen, strict=True)))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_seconds
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT found no solution: {solver.status_name(status)}")
    picked = np.array([i for i, x in enumerate(chosen) if solver.value(x)], dtype=np.int64)
    return SolverResult(chosen=picked, objective=int(round(solver.objective_value)),
                        optimal=status == cp_model.OPTIMAL)


def integer_objective(score: np.ndarray, chosen: np.ndarray, scale: float = 1e9) -> int:
    return sum(int(round(s * scale)) for s in score[chosen])
