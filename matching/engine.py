"""One routing decision, start to finish, without touching the database: eligibility →
capacity → scores → selection, and the trace that explains it.

Collaborators come in as arguments: ``usage_of`` reads today's capacity counters,
``model`` predicts approval, take-up and loss (``matching/predictions.py``), ``price_of``
gives capacity prices, ``rng`` drives exploration.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from matching import eligibility
from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue
from matching.predictions import RulesOnly
from matching.scoring import Scores, ScoringSettings, score
from matching.selection import chosen_many, select

ODDS_BANDS = ((0.5, "high"), (0.2, "medium"), (0.0, "low"))

UsageReader = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
# (catalogue positions, their product usage, their institution usage) → prices
PriceReader = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def odds_band(probability: float) -> str:
    """What a borrower is told: high (≥ 50%), medium (≥ 20%) or low."""
    return next(band for floor, band in ODDS_BANDS if probability >= floor)


@dataclass(frozen=True)
class Decision:
    catalogue: CompiledCatalogue
    codes: np.ndarray       # per catalogue position: eligibility code, or ELIGIBLE
    scores: Scores          # over the eligible positions (capacity left)
    chosen: np.ndarray      # catalogue positions, best first
    k: int
    propensity: np.ndarray  # per chosen product: P(this policy routes it), see ``route``
    exploration_rate: float = 0.0
    model_name: str = ""

    @cached_property
    def chosen_in_scores(self) -> np.ndarray:
        """Where each chosen product sits in ``scores``' arrays."""
        return np.searchsorted(self.scores.index, self.chosen)

    @cached_property
    def not_chosen(self) -> dict[str, np.ndarray]:
        """Eligible products left out, by why (catalogue positions)."""
        s, group = self.scores, self.catalogue.institution_index
        left = np.ones(len(s.index), dtype=bool)
        left[self.chosen_in_scores] = False
        low = left & (s.score <= 0)
        routed = np.zeros(group.max() + 1 if len(group) else 0, dtype=bool)
        routed[group[self.chosen]] = True
        same = left & ~low & routed[group[s.index]]
        return {"below_inquiry_cost": s.index[low], "institution_already_routed": s.index[same],
                "outranked": s.index[left & ~low & ~same]}

    @cached_property
    def excluded(self) -> dict[str, np.ndarray]:
        """Products failing a rule or out of capacity, by reason (catalogue positions)."""
        left_out = np.flatnonzero(self.codes != eligibility.ELIGIBLE)
        if len(left_out) == 0:
            return {}
        codes = self.codes[left_out]
        order = np.argsort(codes, kind="stable")
        codes, left_out = codes[order], left_out[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        ends = [*starts[1:].tolist(), len(codes)]
        return {eligibility.REASONS[codes[a]]: left_out[a:b]
                for a, b in zip(starts, ends, strict=True)}

    def not_routed_counts(self) -> dict[str, int]:
        counts = {reason: len(p) for reason, p in self.excluded.items()}
        counts.update({reason: len(p) for reason, p in self.not_chosen.items() if len(p)})
        return counts

    def trace(self, *, model_name: str, settings: ScoringSettings, applicant: Applicant,
              attempts: int) -> dict:
        """Everything needed to see why these products and not others."""
        cat, s = self.catalogue, self.scores
        chosen_set = set(self.chosen.tolist())
        pr = s.predictions
        eligible = [
            {"product_id": pid, "institution_id": iid, "mean": m, "probability": p,
             "takeup": t, "loss": lo, "reach": r, "value": v, "weight": w, "price": pc,
             "score": sc, "chosen": pos in chosen_set}
            for pos, pid, iid, m, p, t, lo, r, v, w, pc, sc in zip(
                s.index.tolist(), cat.product_id[s.index].tolist(),
                cat.institution_id[s.index].tolist(), pr.mean.tolist(), s.probability.tolist(),
                pr.takeup.tolist(), s.loss.tolist(), s.reach.tolist(), s.value.tolist(),
                s.weight.tolist(), s.price.tolist(), s.score.tolist(), strict=True)
        ]
        at = self.chosen_in_scores
        chosen_p = s.probability[at]
        chosen_mean = pr.mean[at]
        ids = cat.product_id
        return {
            "catalogue_version": cat.version,
            "products_in_catalogue": cat.size,
            "k": self.k,
            "approval_model": model_name,
            "explored": pr.explored,
            "exploration_rate": self.exploration_rate,
            "settings": asdict(settings),
            "applicant_features": {"debt_to_income": _finite(applicant.debt_to_income),
                                   "has_credit_score": applicant.has_score,
                                   "term_days": applicant.term_days},
            "excluded": {r: ids[p].tolist() for r, p in self.excluded.items()},
            "eligible": eligible,
            "not_chosen": {r: ids[p].tolist() for r, p in self.not_chosen.items()},
            "chosen": [{"rank": rank, "product_id": int(ids[pos]),
                        "institution_id": int(cat.institution_id[pos]),
                        "mean": float(m), "probability": float(p),
                        "sampled": float(p) if pr.explored else None,
                        "propensity": float(q), "score": float(sc)}
                       for rank, (pos, m, p, q, sc) in enumerate(
                           zip(self.chosen.tolist(), chosen_mean, chosen_p,
                               self.propensity.tolist(), s.score[at], strict=True), 1)],
            "objective": {
                "sum_of_scores": float(s.score[at].sum()),
                "p_at_least_one_approval": float(1.0 - np.prod(1.0 - chosen_mean)),
                "expected_value_per_cny": float(
                    (chosen_mean * pr.takeup[at] * (s.value[at] - s.loss[at])).sum()),
            },
            "reservation_attempts": attempts,
        }


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def route(catalogue: CompiledCatalogue, applicant: Applicant, *, k: int,
          usage_of: UsageReader, settings: ScoringSettings, model=None,
          exploration_rate: float = 0.0, rng: np.random.Generator | None = None,
          price_of: PriceReader | None = None,
          full_products: frozenset[int] = frozenset(),
          full_institutions: frozenset[int] = frozenset(),
          tried_institutions: frozenset[int] = frozenset()) -> Decision:
    """Decide where one application goes. ``full_*`` are ids known to be out of capacity
    even if the counters read otherwise (a reservation just failed on them);
    ``tried_institutions`` are left out because an earlier wave already asked them.

    Exploration: with probability ``exploration_rate`` the wave is chosen on a Thompson
    sample of the approval posterior; otherwise on the model's ``greedy`` estimate (for
    the learned model a pessimistic one, so a product it knows little about is tried on
    the exploring share of waves rather than flooded). Each routed product's propensity,
    the chance that this mixed policy routes it, is ``(1 - rate)·[greedy routes it] +
    rate·P(a sample routes it)``, the second term estimated from ``DRAWS`` samples."""
    model = model or RulesOnly()
    rng = rng or np.random.default_rng()
    codes = eligibility.reasons(catalogue, applicant)
    if tried_institutions:
        tried = (codes == eligibility.ELIGIBLE) & np.isin(catalogue.institution_id,
                                                          list(tried_institutions))
        codes[tried] = eligibility.ALREADY_TRIED
    candidates = np.flatnonzero(codes == eligibility.ELIGIBLE)
    product_ids = catalogue.product_id[candidates]
    institution_ids = catalogue.institution_id[candidates]
    product_cap = catalogue.product_cap[candidates]
    institution_cap = catalogue.institution_cap[candidates]
    capped_p, capped_i = np.isfinite(product_cap), np.isfinite(institution_cap)
    used_p, used_i = np.zeros(len(candidates)), np.zeros(len(candidates))
    used_p[capped_p], used_i[capped_i] = usage_of(product_ids[capped_p],
                                                  institution_ids[capped_i])
    product_full = used_p >= product_cap
    institution_full = used_i >= institution_cap
    if full_products:
        product_full |= np.isin(product_ids, list(full_products))
    if full_institutions:
        institution_full |= np.isin(institution_ids, list(full_institutions))
    codes[candidates[institution_full]] = eligibility.INSTITUTION_CAP_EXHAUSTED
    codes[candidates[product_full]] = eligibility.CAP_EXHAUSTED
    open_ = ~(product_full | institution_full)
    eligible = candidates[open_]

    explore = exploration_rate > 0 and rng.random() < exploration_rate
    predictions = model.predict(catalogue, applicant, eligible, explore=explore,
                                rng=rng, draws=DRAWS if exploration_rate > 0 else 0)
    price = (price_of(eligible, used_p[open_], used_i[open_]) if price_of is not None
             else None)
    scores = score(catalogue, applicant, eligible, predictions, settings, price)
    group = catalogue.institution_index[eligible]
    picked = select(scores.score, group, k)
    propensity = np.ones(len(picked))
    if exploration_rate > 0 and len(picked):
        by_greedy = chosen_many(scores.of(predictions.greedy)[None], group, k)[0]
        by_sample = chosen_many(scores.of(predictions.draws), group, k).mean(axis=0)
        propensity = ((1 - exploration_rate) * by_greedy[picked]
                      + exploration_rate * by_sample[picked])
    return Decision(catalogue=catalogue, codes=codes, scores=scores, chosen=eligible[picked],
                    k=k, propensity=propensity, exploration_rate=exploration_rate,
                    model_name=model.name)


DRAWS = 16
