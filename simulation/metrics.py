"""What the outcome benchmark reports for each policy, per run and over time.

* **match success**: share of matchable applicants (some eligible institution would
  have answered in time and approved, caps aside) who got at least one approval;
* **inquiries per applicant**: routings sent (each is a credit inquiry), over all
  applicants;
* **approval rate**: approvals per routing;
* **take-up**: funded loans per approved applicant;
* **funded volume** (CNY) and **bad rate** (funded loans that went bad);
* **value**: the funded loans' value (``Settings.value``) less the inquiry cost of every
  routing, and its share of the hindsight optimum;
* **ECE**: calibration of the policy's own approval probabilities, if it has any.
"""

from dataclasses import dataclass

import numpy as np

from learning.calibration import ece as calibration_error
from simulation.arena import Result
from simulation.world import SECONDS_PER_DAY


@dataclass(frozen=True)
class Summary:
    policy: str
    applicants: int
    matchable: float
    match_success: float
    inquiries_per_applicant: float
    approval_rate: float
    takeup: float
    funded: int
    funded_volume: float
    bad_rate: float
    value: float
    ece: float | None
    seconds: float


def routings(result: Result) -> dict[str, np.ndarray]:
    def flat(parts, dtype=float):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
    return {"time": flat(result.routing_time), "predicted": flat(result.routing_predicted),
            "approved": flat(result.routing_approved), "true_p": flat(result.routing_true_p),
            "position": flat(result.routing_position, np.int64),
            "answered": flat(result.routing_answered, bool)}


def summarise(result: Result, inquiry_cost: float) -> Summary:
    r = routings(result)
    approved = result.approved
    predicted = r["predicted"]
    known = np.isfinite(predicted)
    return Summary(
        policy=result.policy, applicants=len(approved),
        matchable=float(result.matchable.mean()),
        match_success=_mean(approved[result.matchable]),
        inquiries_per_applicant=float(result.inquiries.mean()),
        approval_rate=_mean(r["approved"]),
        takeup=float(result.funded.sum() / max(approved.sum(), 1)),
        funded=int(result.funded.sum()), funded_volume=float(result.amount.sum()),
        bad_rate=_mean(result.bad[result.funded]),
        value=float(result.value.sum() - inquiry_cost * result.inquiries.sum()),
        ece=(calibration_error(predicted[known], r["approved"][known])
             if known.any() else None),
        seconds=result.seconds)


def curve(result: Result, arrivals: np.ndarray) -> list[dict]:
    """Per simulated day: approval rate per routing, match success, inquiries per
    applicant and the ECE of the policy's predictions made that day."""
    r = routings(result)
    routing_day = r["time"] // SECONDS_PER_DAY
    applicant_day = arrivals[:len(result.approved)] // SECONDS_PER_DAY
    points = []
    for day in np.unique(applicant_day).tolist():
        on = routing_day == day
        mine = applicant_day == day
        known = on & np.isfinite(r["predicted"])
        points.append({
            "day": int(day) + 1,
            "approval_rate": _mean(r["approved"][on]),
            "match_success": _mean(result.approved[mine & result.matchable]),
            "inquiries_per_applicant": float(result.inquiries[mine].mean()),
            "ece": (calibration_error(r["predicted"][known], r["approved"][known])
                    if known.any() else None),
        })
    return points


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0


def plot(curves: dict[str, list[dict]], summaries: list[Summary], hindsight_funded: int,
         path: str) -> None:
    """Learning curves per policy over the days, and the funnel of each policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    for name, points in curves.items():
        days = [p["day"] for p in points]
        axes[0, 0].plot(days, [p["approval_rate"] for p in points], marker=".", label=name)
        axes[0, 1].plot(days, [p["match_success"] for p in points], marker=".", label=name)
        if any(p["ece"] is not None for p in points):
            axes[1, 0].plot(days, [p["ece"] if p["ece"] is not None else np.nan
                                   for p in points], marker=".", label=name)
    axes[0, 0].set(title="approval rate per routing", xlabel="day")
    axes[0, 1].set(title="match success (of matchable applicants)", xlabel="day")
    axes[1, 0].axhline(0.02, color="grey", linestyle=":", label="0.02")
    axes[1, 0].set(title="calibration error (ECE) of approval odds", xlabel="day")
    for axis in (axes[0, 0], axes[0, 1], axes[1, 0]):
        axis.legend(fontsize=7)
    names = [s.policy for s in summaries] + ["hindsight"]
    funnel = axes[1, 1]
    steps = ("inquiries", "approved", "funded", "repaid")
    width = 0.8 / len(steps)
    for k, step in enumerate(steps):
        values = [{"inquiries": s.inquiries_per_applicant * s.applicants,
                   "approved": s.match_success * s.matchable * s.applicants,
                   "funded": s.funded, "repaid": s.funded * (1 - s.bad_rate)}[step]
                  for s in summaries]
        values.append({"inquiries": hindsight_funded, "approved": hindsight_funded,
                       "funded": hindsight_funded, "repaid": np.nan}[step])
        funnel.bar(np.arange(len(names)) + k * width, values, width, label=step)
    funnel.set_yscale("log")
    funnel.set_xticks(np.arange(len(names)) + 0.4, names, rotation=20, fontsize=7)
    funnel.set(title="funnel: inquiries → approved applicants → funded → repaid")
    funnel.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
