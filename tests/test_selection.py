"""The fast selection is exactly optimal: on random instances it reaches the optimum that
OR-Tools' CP-SAT proves for the same problem (capacity written as constraints there)."""

from types import SimpleNamespace

import numpy as np
import pytest

from matching import engine
from matching.applicant import Applicant
from matching.catalogue import REGION_INDEX, _arrays
from matching.eligibility import CAP_EXHAUSTED, ELIGIBLE, INSTITUTION_CAP_EXHAUSTED
from matching.predictions import RulesOnly
from matching.scoring import ScoringSettings, score
from matching.selection import integer_objective, select, solve_with_cp_sat

SOLVER = {"time_limit_seconds": 20.0, "workers": 1, "seed": 7}


def feasible(chosen, score, group, k, product_ok, group_ok) -> bool:
    groups = group[chosen]
    return (len(chosen) <= k and len(set(groups.tolist())) == len(chosen)
            and bool(np.all(product_ok[chosen])) and bool(np.all(group_ok[groups]))
            and bool(np.all(score[chosen] > 0)))


def random_instance(rng: np.random.Generator):
    n = int(rng.integers(1, 80))
    groups = int(rng.integers(1, min(n, 30) + 1))
    group = rng.integers(0, groups, n)
    scores = rng.normal(0.4, 0.6, n)
    if rng.random() < 0.3:
        scores = np.round(scores, 1)          # many exact ties
    product_ok = rng.random(n) > rng.choice([0.0, 0.2, 0.6])
    group_ok = rng.random(groups) > rng.choice([0.0, 0.2, 0.5])
    k = int(rng.integers(1, 9))
    return scores, group, k, product_ok, group_ok


@pytest.mark.parametrize("seed", range(250))
def test_select_matches_cp_sat_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    scores, group, k, product_ok, group_ok = random_instance(rng)
    chosen = select(scores, group, k, product_ok & group_ok[group])
    assert feasible(chosen, scores, group, k, product_ok, group_ok)
    assert list(scores[chosen]) == sorted(scores[chosen], reverse=True)

    proof = solve_with_cp_sat(scores, group, k, product_ok, group_ok, **SOLVER)
    assert proof.optimal
    assert integer_objective(scores, chosen) == proof.objective
    assert scores[chosen].sum() == pytest.approx(scores[proof.chosen].sum(), abs=1e-9)


def test_an_institutions_best_product_out_of_capacity_gives_way_to_its_next_best():
    score = np.array([0.9, 0.8, 0.7, 0.1])
    group = np.array([0, 0, 1, 1])
    available = np.array([False, True, True, True])
    assert select(score, group, 2, available).tolist() == [1, 2]


def test_never_more_than_k_never_two_per_institution_never_a_non_positive_score():
    score = np.array([0.5, 0.4, 0.3, -0.1, 0.0, 0.2])
    group = np.array([0, 0, 1, 2, 3, 4])
    assert select(score, group, 10).tolist() == [0, 2, 5]
    assert select(score, group, 2).tolist() == [0, 2]
    assert select(score, group, 0).tolist() == []


def test_ties_go_to_the_older_product():
    assert select(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 2]), 2).tolist() == [0, 1]


def _random_catalogue(rng: np.random.Generator, size: int):
    """Compiled from rows shaped like the products query, so compilation is covered."""
    regions = sorted(REGION_INDEX)
    institutions = max(2, size // 3)
    institution_caps = [None if rng.random() < 0.6 else int(rng.integers(0, 4))
                        for _ in range(institutions)]
    rows = []
    for i in range(size):
        institution = int(rng.integers(0, institutions))
        licensed = sorted(rng.choice(regions, int(rng.integers(1, 6)), replace=False))
        rows.append(SimpleNamespace(
            id=i + 1, institution_id=institution + 1,
            name=f"p{i}", type="cash_loan", institution_name="i",
            amount_min=int(rng.choice([500, 1000, 3000])),
            amount_max=int(rng.choice([5000, 20000, 50000])),
            term_min=int(rng.choice([1, 3])), term_max=int(rng.choice([12, 24])),
            term_unit="month", apr_min=float(rng.uniform(0.07, 0.15)),
            apr_max=float(rng.uniform(0.16, 0.24)), age_min=int(rng.choice([18, 22])),
            age_max=int(rng.choice([50, 60])), income_min=int(rng.choice([0, 3000, 6000])),
            score_min=None if rng.random() < 0.7 else int(rng.choice([550, 650])),
            accepts_no_score=bool(rng.random() < 0.8), dti_max=rng.choice([None, 0.5]),
            regions=[], regions_excluded=[], employment=[], channels=[], borrowers="any",
            daily_application_cap=None if rng.random() < 0.5 else int(rng.integers(0, 4)),
            weight=float(rng.choice([0.5, 1.0, 2.0])), status="active",
            institution_status="active", licensed_regions=licensed,
            institution_cap=institution_caps[institution], decision_sla_seconds=300,
            institution_webhook=False))
    return _arrays(1, rows)


@pytest.mark.parametrize("seed", range(40))
def test_whole_routing_decisions_match_cp_sat(seed):
    """Eligibility, capacity and scoring included: the routed set is the optimum of the
    stated objective over the products that pass every rule."""
    rng = np.random.default_rng(1000 + seed)
    catalogue = _random_catalogue(rng, int(rng.integers(5, 120)))
    used = {"p": {}, "i": {}}

    def usage_of(product_ids, institution_ids):
        for pid in product_ids.tolist():
            used["p"].setdefault(pid, int(rng.integers(0, 3)))
        for iid in institution_ids.tolist():
            used["i"].setdefault(iid, int(rng.integers(0, 3)))
        return (np.array([used["p"][p] for p in product_ids.tolist()], dtype=float),
                np.array([used["i"][i] for i in institution_ids.tolist()], dtype=float))

    applicant = Applicant(age=30, region=int(rng.integers(0, len(REGION_INDEX))),
                          monthly_income=8000.0, employment=0,
                          credit_score=float(rng.choice([np.nan, 600.0, 700.0])),
                          monthly_debt=1000.0, first_loan=False, amount=4000.0,
                          term_days=360.0, channel=0)
    settings = ScoringSettings(inquiry_cost=float(rng.choice([0.0, 0.3])))
    k = int(rng.integers(1, 7))
    decision = engine.route(catalogue, applicant, k=k, usage_of=usage_of,
                            model=RulesOnly(), settings=settings)

    # The same instance for CP-SAT: every product passing the rules, capacity as
    # constraints, scores from the same model and settings.
    rules_ok = np.flatnonzero(np.isin(decision.codes, [ELIGIBLE, CAP_EXHAUSTED,
                                                       INSTITUTION_CAP_EXHAUSTED]))
    predictions = RulesOnly().predict(catalogue, applicant, rules_ok, explore=False,
                                      rng=np.random.default_rng(0))
    scores = score(catalogue, applicant, rules_ok, predictions, settings)
    pids = catalogue.product_id[rules_ok]
    product_ok = np.array([used["p"].get(p, 0) < c for p, c in
                           zip(pids.tolist(), catalogue.product_cap[rules_ok], strict=True)])
    groups, group = np.unique(catalogue.institution_id[rules_ok], return_inverse=True)
    institution_cap = {int(i): c for i, c in zip(catalogue.institution_id.tolist(),
                                                  catalogue.institution_cap, strict=True)}
    group_ok = np.array([used["i"].get(int(g), 0) < institution_cap[int(g)] for g in groups])
    proof = solve_with_cp_sat(scores.score, group, k, product_ok, group_ok, **SOLVER)
    assert proof.optimal
    chosen_here = np.searchsorted(rules_ok, decision.chosen)
    assert integer_objective(scores.score, chosen_here) == proof.objective
