"""Institutions and products: tables, detail pages, and edits written through the same
services as the API (same validation, audit entry and version check)."""

from datetime import timedelta

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from console import charts, forms, insights
from console.blueprint import bp, routing
from console.listing import choice, paged, whole_number
from core import audit
from core.db import get_session
from core.errors import InvalidInput, LendmatchError, StaleVersion
from learning import weights
from learning.models import ProductWeightVersion
from lenders import service as lenders_service
from lenders.models import Institution, InstitutionKind, InstitutionStatus
from lenders.schemas import InstitutionPatch
from matching.models import DailyUsage, Routing, UsageScope
from products import service as products_service
from products.models import Product, ProductStatus, ProductType
from products.schemas import ProductPatch

SHARE_DAYS = 7
CHART_DAYS = 30
PRODUCT_FIELDS = ("weight", "daily_application_cap", "daily_funding_cap", "status")
INSTITUTION_FIELDS = ("status", "daily_application_cap", "daily_funding_budget")


def values(enum_type) -> list[str]:
    return [m.value for m in enum_type]


@bp.get("/institutions")
def institutions():
    session, errors = get_session(), []
    since = routing().clock() - timedelta(days=SHARE_DAYS)
    products = (select(Product.institution_id, func.count().label("n"))
                .group_by(Product.institution_id).subquery())
    routed = (select(Routing.institution_id, func.count().label("n"))
              .where(Routing.created_at >= since).group_by(Routing.institution_id).subquery())
    query = (select(Institution, func.coalesce(products.c.n, 0).label("products"),
                    func.coalesce(routed.c.n, 0).label("routed"))
             .outerjoin(products, products.c.institution_id == Institution.id)
             .outerjoin(routed, routed.c.institution_id == Institution.id))
    kind = choice(request.args, "kind", values(InstitutionKind), errors)
    status = choice(request.args, "status", values(InstitutionStatus), errors)
    if kind:
        query = query.where(Institution.kind == kind)
    if status:
        query = query.where(Institution.status == status)
    if q := request.args.get("q", "").strip():
        query = query.where(Institution.name.icontains(q, autoescape=True))
    table = paged(session, query, request.args, {
        "id": Institution.id, "name": Institution.name, "kind": Institution.kind,
        "status": Institution.status, "cap": Institution.daily_application_cap,
        "sla": Institution.decision_sla_seconds, "products": products.c.n,
        "routed": routed.c.n}, "name", errors, Institution.id)
    approvals = insights.approvals_by_institution(session, since)
    total_routed = sum(insights.routed_by(session, since, Routing.institution_id).values())
    return render_template("console/institutions.html", table=table, approvals=approvals,
                           total_routed=total_routed, kinds=values(InstitutionKind),
                           statuses=values(InstitutionStatus), share_days=SHARE_DAYS)


@bp.get("/products")
def products():
    session, errors = get_session(), []
    since = routing().clock() - timedelta(days=SHARE_DAYS)
    routed = (select(Routing.product_id, func.count().label("n"))
              .where(Routing.created_at >= since).group_by(Routing.product_id).subquery())
    multiplier = func.coalesce(ProductWeightVersion.multiplier, 1.0)
    effective = (Product.weight * multiplier).label("effective_weight")
    query = (select(Product, Institution.name.label("institution"), effective,
                    func.coalesce(routed.c.n, 0).label("routed"))
             .join(Institution, Institution.id == Product.institution_id)
             .outerjoin(ProductWeightVersion,
                        (ProductWeightVersion.product_id == Product.id)
                        & ProductWeightVersion.is_current.is_(True))
             .outerjoin(routed, routed.c.product_id == Product.id))
    type_ = choice(request.args, "type", values(ProductType), errors)
    status = choice(request.args, "status", values(ProductStatus), errors)
    institution_id = whole_number(request.args, "institution_id", errors)
    if type_:
        query = query.where(Product.type == type_)
    if status:
        query = query.where(Product.status == status)
    if institution_id is not None:
        query = query.where(Product.institution_id == institution_id)
    if q := request.args.get("q", "").strip():
        query = query.where(Product.name.icontains(q, autoescape=True)
                            | Institution.name.icontains(q, autoescape=True))
    table = paged(session, query, request.args, {
        "id": Product.id, "name": Product.name, "institution": Institution.name,
        "type": Product.type, "status": Product.status, "weight": Product.weight,
        "effective": effective, "cap": Product.daily_application_cap,
        "routed": routed.c.n}, "id", errors, Product.id)
    total_routed = sum(insights.routed_by(session, since, Routing.product_id).values())
    return render_template("console/products.html", table=table, total_routed=total_routed,
                           types=values(ProductType), statuses=values(ProductStatus),
                           share_days=SHARE_DAYS)


def _today_usage(session, scope: UsageScope, object_id: int) -> int:
    day = routing().capacity_day(routing().clock())
    row = session.get(DailyUsage, (day, scope, object_id))
    return row.applications if row else 0


def _trail(session, object_type: str, object_id: int):
    entries, _ = audit.search(session, object_type=object_type, object_id=str(object_id),
                              limit=100)
    return entries


@bp.get("/products/<int(max=2147483647):product_id>")
def product(product_id, form=None, errors=None, status=200):
    session = get_session()
    item = products_service.get_visible(session, g.principal, product_id)
    institution = session.get(Institution, item.institution_id)
    context = routing()
    now, zone = context.clock(), context.cap_timezone
    days = _days()
    mine = insights.funnel(session, now, zone, days, product_id=product_id)
    everyone = insights.funnel(session, now, zone, days)
    current = weights.current(session, product_id)
    return render_template(
        "console/product.html", product=item, institution=institution,
        rules=products_service.snapshot(item)["rules"], current_weight=current,
        weight_history=weights.history(session, product_id),
        trail=_trail(session, "product", product_id),
        used_today=_today_usage(session, UsageScope.PRODUCT, product_id),
        funnel=mine, days=days,
        funnel_chart=charts.funnel_over_time(mine), totals_chart=charts.funnel_totals(mine),
        share_chart=charts.share_over_time(mine, everyone, f"{item.name}: share of routings"),
        statuses=values(ProductStatus), form=form or {}, errors=errors or []), status


@bp.post("/products/<int(max=2147483647):product_id>")
def edit_product(product_id):
    item = products_service.get_visible(get_session(), g.principal, product_id)
    return _save(item, PRODUCT_FIELDS, ProductPatch(partial=True),
                 lambda changes, version: products_service.update(
                     get_session(), g.principal, product_id, changes, version,
                     apr_cap=current_app.config["APR_CAP"]),
                 again=lambda errors, status: product(product_id, form=request.form,
                                                      errors=errors, status=status),
                 done=url_for("ops.product", product_id=product_id))


def _save(item, fields, schema, update, *, again, done):
    """An edit form through the API's schema and service: the fields that changed, the
    reason, the version the page showed. On a refusal the page comes back with the
    reasons and what was typed; on success, a redirect with a note."""
    try:
        found = forms.changes(request.form, fields, schema, item)
        reason = request.form.get("reason", "").strip()
        if not found:
            raise InvalidInput({"form": ["nothing changed: edit a value first"]},
                               location="form")
        update(found | ({"reason": reason} if reason else {}), forms.version(request.form))
    except LendmatchError as error:
        return again(_explain(error), error.status)
    flash(f"Saved: {', '.join(sorted(found))} changed. The audit log has the entry.")
    return redirect(done)


@bp.post("/products/<int(max=2147483647):product_id>/learned-weight")
def learned_weight(product_id):
    """Lock or unlock the learned multiplier, or roll it back to an earlier version."""
    form = request.form
    reason = form.get("reason", "").strip()
    try:
        if not reason:
            raise InvalidInput({"reason": ["required; it goes in the audit log"]},
                               location="form")
        action = form.get("action")
        if action == "rollback":
            version = form.get("version", "")
            if not version.isdigit():
                raise InvalidInput({"version": ["pick a version to roll back to"]},
                                   location="form")
            row = weights.change(get_session(), g.principal, product_id, reason=reason,
                                 rollback_to=int(version), now=routing().clock())
            done = f"Learned multiplier back to version {version}'s (× {row.multiplier:.3f})."
        elif action in ("lock", "unlock"):
            weights.change(get_session(), g.principal, product_id, reason=reason,
                           locked=action == "lock", now=routing().clock())
            done = f"Learned multiplier {action}ed."
        else:
            raise InvalidInput({"action": ["lock, unlock or rollback"]}, location="form")
    except LendmatchError as error:
        return product(product_id, errors=_explain(error), status=error.status)
    flash(done)
    return redirect(url_for("ops.product", product_id=product_id))


@bp.get("/institutions/<int(max=2147483647):institution_id>")
def institution(institution_id, form=None, errors=None, status=200):
    session = get_session()
    item = lenders_service.get_visible(session, g.principal, institution_id)
    context = routing()
    now, zone = context.clock(), context.cap_timezone
    days = _days()
    mine = insights.funnel(session, now, zone, days, institution_id=institution_id)
    since = now - timedelta(days=days)
    routed = insights.routed_by(session, now - timedelta(days=SHARE_DAYS), Routing.product_id)
    its_products = list(session.scalars(select(Product).where(
        Product.institution_id == institution_id).order_by(Product.id)))
    report = insights.calibration(session, institution_id, since)
    return render_template(
        "console/institution.html", institution=item, products=its_products,
        routed=routed, total_routed=sum(routed.values()), share_days=SHARE_DAYS,
        used_today=_today_usage(session, UsageScope.INSTITUTION, institution_id),
        trail=_trail(session, "institution", institution_id), funnel=mine, days=days,
        funnel_chart=charts.funnel_over_time(mine), calibration=report,
        calibration_chart=charts.calibration(report), statuses=values(InstitutionStatus),
        form=form or {}, errors=errors or []), status


@bp.post("/institutions/<int(max=2147483647):institution_id>")
def edit_institution(institution_id):
    item = lenders_service.get_visible(get_session(), g.principal, institution_id)
    return _save(item, INSTITUTION_FIELDS, InstitutionPatch(partial=True),
                 lambda changes, version: lenders_service.update(
                     get_session(), g.principal, institution_id, changes, version),
                 again=lambda errors, status: institution(institution_id, form=request.form,
                                                          errors=errors, status=status),
                 done=url_for("ops.institution", institution_id=institution_id))


def _days() -> int:
    raw = request.args.get("days", "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 180 else CHART_DAYS


def _explain(error: LendmatchError) -> list[str]:
    if isinstance(error, StaleVersion):
        return [f"Someone changed this since you opened the page ({error.message}). "
                "Nothing was saved: reload, check the new values and try again."]
    details = forms.messages(error.errors)
    return details or [error.message]
