"""Signing in and out, and the overview page."""

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from console import auth, charts, insights
from console.blueprint import bp
from core.db import get_session
from lenders.models import Institution
from matching.models import Application
from products.models import Product

OVERVIEW_DAYS = 14


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site."""
    if target and target.startswith("/ops") and not target.startswith("//"):
        return target
    return url_for("ops.overview")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "POST":
        key = request.form.get("key", "")
        if not key.strip():
            error = "Enter your ops API key."
        elif auth.sign_in(key) is None:
            error = "That key is not a valid ops key (unknown, revoked or another role)."
        else:
            return redirect(_safe_next(request.form.get("next")))
        return render_template("console/sign_in.html", error=error,
                               next=request.form.get("next", "")), 401
    if auth.signed_in() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("console/sign_in.html", error=None, next=request.args.get("next", ""))


@bp.post("/sign-out")
def sign_out():
    auth.sign_out()
    flash("You are signed out.")
    return redirect(url_for("ops.sign_in"))


@bp.get("/")
def overview():
    session = get_session()
    context = current_app.extensions["lendmatch.routing"]
    now, zone = context.clock(), context.cap_timezone
    funnel = insights.funnel(session, now, zone, OVERVIEW_DAYS)
    start_of_today, _ = insights.local_days(now, zone, 1)
    counts = {
        "institutions": dict(session.execute(select(Institution.status, func.count())
                                             .group_by(Institution.status)).all()),
        "products": dict(session.execute(select(Product.status, func.count())
                                         .group_by(Product.status)).all()),
        "applications_today": session.scalar(select(func.count()).select_from(Application)
                                             .where(Application.created_at >= start_of_today)),
    }
    week = insights.approvals_by_institution(session, now - timedelta(days=7))
    decided = sum(n for n, _ in week.values())
    approved = sum(a for _, a in week.values())
    jobs = insights.jobs_status(session, now, zone)
    return render_template(
        "console/overview.html", counts=counts, funnel=funnel, days=OVERVIEW_DAYS,
        funnel_chart=charts.funnel_over_time(funnel), totals_chart=charts.funnel_totals(funnel),
        approval_rate=approved / decided if decided else None, decided=decided,
        attention=[j for j in jobs if j["overdue"] or (
            j["finished"] is not None and str(j["finished"].status) == "failed")])
