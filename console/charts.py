"""Chart.js configurations built from the console's data. The page carries each one in
its canvas's ``data-chart`` attribute; ``static/console.js`` draws it."""

from console.insights import STAGES

COLOURS = {"routed": "#4e79a7", "approved": "#59a14f", "accepted": "#edc948",
           "funded": "#f28e2b", "repaid": "#76b7b2", "bad": "#e15759"}
BEFORE, AFTER = "#9aa7b8", "#f28e2b"


def funnel_over_time(funnel: dict) -> dict:
    return {
        "type": "line",
        "data": {"labels": funnel["days"], "datasets": [
            {"label": stage, "data": funnel["series"][stage], "borderColor": COLOURS[stage],
             "backgroundColor": COLOURS[stage], "tension": 0.2, "pointRadius": 2}
            for stage in STAGES]},
        "options": {"scales": {"y": {"beginAtZero": True, "title": {
            "display": True, "text": "routings, by day made"}}},
            "plugins": {"legend": {"position": "bottom"}}},
    }


def funnel_totals(funnel: dict) -> dict:
    totals = funnel["totals"]
    return {
        "type": "bar",
        "data": {"labels": list(STAGES), "datasets": [{
            "label": f"routings over {len(funnel['days'])} days",
            "data": [totals[s] for s in STAGES],
            "backgroundColor": [COLOURS[s] for s in STAGES]}]},
        "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}},
                    "scales": {"x": {"beginAtZero": True}}},
    }


def share_over_time(part: dict, whole: dict, label: str) -> dict:
    routed, total = part["series"]["routed"], whole["series"]["routed"]
    share = [round(100 * r / t, 2) if t else None for r, t in zip(routed, total, strict=True)]
    return {
        "type": "line",
        "data": {"labels": part["days"], "datasets": [
            {"label": label, "data": share, "borderColor": COLOURS["routed"],
             "backgroundColor": COLOURS["routed"], "spanGaps": True, "pointRadius": 2}]},
        "options": {"scales": {"y": {"beginAtZero": True, "title": {
            "display": True, "text": "% of all routings that day"}}},
            "plugins": {"legend": {"position": "bottom"}}},
    }


def calibration(report: dict) -> dict:
    bins = report["bins"]
    largest = max((b["count"] for b in bins), default=1)
    return {
        "type": "scatter",
        "data": {"datasets": [
            {"type": "line", "label": "perfectly calibrated", "data": [{"x": 0, "y": 0},
                                                                      {"x": 1, "y": 1}],
             "borderColor": "#999", "borderDash": [6, 4], "pointRadius": 0},
            {"type": "line", "label": "observed approval rate",
             "data": [{"x": round(b["predicted"], 4), "y": round(b["observed"], 4)}
                      for b in bins],
             "borderColor": COLOURS["routed"], "backgroundColor": COLOURS["routed"],
             "pointRadius": [4 + 10 * b["count"] / largest for b in bins]}]},
        "options": {"scales": {
            "x": {"type": "linear", "min": 0, "max": 1,
                  "title": {"display": True, "text": "odds routing gave (P approve)"}},
            "y": {"min": 0, "max": 1,
                  "title": {"display": True, "text": "share approved"}}},
            "plugins": {"legend": {"position": "bottom"}}},
    }


def shares_before_after(rows: list[dict], label_key: str, limit: int = 15) -> dict:
    top = rows[:limit]
    return {
        "type": "bar",
        "data": {"labels": [f"{r[label_key]} (#{r.get('product_id', r.get('institution_id'))})"
                            for r in top],
                 "datasets": [
                     {"label": "now", "data": [round(100 * r["share_before"], 2) for r in top],
                      "backgroundColor": BEFORE},
                     {"label": "with the proposed weights",
                      "data": [round(100 * r["share_after"], 2) for r in top],
                      "backgroundColor": AFTER}]},
        "options": {"indexAxis": "y", "scales": {"x": {"beginAtZero": True, "title": {
            "display": True, "text": "% of routings in the replay"}}},
            "plugins": {"legend": {"position": "bottom"}}},
    }
