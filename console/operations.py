"""The scheduler's jobs and the model versions (with rollback), and the what-if replay
of recent applications under proposed weights."""

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from console import charts, forms, insights
from console.blueprint import bp, routing
from core.db import get_session
from core.errors import InvalidInput, LendmatchError
from jobs import runner
from learning import store
from learning.models import LearnedModel
from matching import replay
from matching.catalogue import CHANNELS
from products import service as products_service
from products.models import Product
from products.schemas import ProductPatch

MODELS_SHOWN = 40
DEFAULT_REPLAY = 500
MAX_PROPOSALS = 20


@bp.get("/jobs")
def jobs(errors=None, status=200):
    session = get_session()
    context = routing()
    now = context.clock()
    models = list(session.scalars(select(LearnedModel).order_by(LearnedModel.id.desc())
                                  .limit(MODELS_SHOWN)))
    current = dict(session.execute(select(LearnedModel.kind, func.max(LearnedModel.id))
                                   .group_by(LearnedModel.kind)).all())
    return render_template("console/jobs.html", jobs=insights.jobs_status(
        session, now, context.cap_timezone), runs=runner.recent(session, limit=30),
        models=models,
        current=set(current.values()), now=now, errors=errors or []), status


@bp.post("/models/<int(max=2147483647):model_id>/rollback")
def rollback_model(model_id):
    reason = request.form.get("reason", "").strip()
    try:
        if not reason:
            raise InvalidInput({"reason": ["say why you roll back; it goes in the audit log"]},
                               location="form")
        row = store.rollback(get_session(), g.principal, model_id, reason=reason,
                             now=routing().clock())
    except LendmatchError as error:
        return jobs(errors=forms.messages(error.errors) or [error.message], status=error.status)
    flash(f"The {row.kind} model is back to version {model_id} (saved as version {row.id}).")
    return redirect(url_for("ops.jobs"))


def _proposals(form) -> tuple[dict[int, float], list[str]]:
    """Rows of (product id, new weight) from the form; blank rows are skipped."""
    proposed, errors = {}, []
    ids, weights = form.getlist("product_id"), form.getlist("weight")
    for row, (raw_id, raw_weight) in enumerate(zip(ids, weights, strict=False), 1):
        if not raw_id.strip() and not raw_weight.strip():
            continue
        if not raw_id.strip().isdigit() or int(raw_id) > 2**31 - 1:
            errors.append(f"row {row}: product must be a product id, not {raw_id!r}")
            continue
        weight = forms.coerce("weight", raw_weight)
        try:
            ProductPatch(partial=True).load({"weight": weight})
        except Exception as error:  # marshmallow's message, e.g. out of range
            errors.append(f"row {row}: weight {raw_weight!r}: "
                          f"{'; '.join(getattr(error, 'messages', {}).get('weight', []))}")
            continue
        if int(raw_id) in proposed:
            errors.append(f"row {row}: product {raw_id} is proposed twice")
            continue
        proposed[int(raw_id)] = float(weight)
    if len(proposed) > MAX_PROPOSALS:
        errors.append(f"at most {MAX_PROPOSALS} products at a time")
    return proposed, errors


@bp.route("/what-if", methods=["GET", "POST"])
def what_if():
    session = get_session()
    form = request.form if request.method == "POST" else request.args
    applications = form.get("applications", str(DEFAULT_REPLAY)).strip()
    result, errors = None, []
    if request.method == "POST":
        proposed, errors = _proposals(form)
        if not applications.isdigit():
            errors.append(f"applications: a whole number from 1 to {replay.MAX_APPLICATIONS}")
        if not errors:
            try:
                result = _replay(session, proposed, int(applications))
            except LendmatchError as error:
                errors = forms.messages(error.errors) or [error.message]
    return _page(form, applications, result, errors, 422 if errors else 200)


def _page(form, applications, result, errors, status):
    versions, moved, institutions_moved = {}, [], []
    if result is not None:
        versions = dict(get_session().execute(select(Product.id, Product.version).where(
            Product.id.in_(list(result.proposed)))).all())
        moved, institutions_moved = result.rows(), result.institutions()
    return render_template("console/what_if.html", rows=_form_rows(form),
                           applications=applications, result=result, errors=errors,
                           versions=versions, moved=moved, institutions_moved=institutions_moved,
                           product_chart=charts.shares_before_after(moved, "product"),
                           institution_chart=charts.shares_before_after(institutions_moved,
                                                                        "institution"),
                           max_applications=replay.MAX_APPLICATIONS), status


def _form_rows(form) -> list[tuple[str, str]]:
    rows = list(zip(form.getlist("product_id"), form.getlist("weight"), strict=False))
    if not rows and form.get("product_id"):
        rows = [(form.get("product_id"), form.get("weight", ""))]
    rows = [r for r in rows if r[0].strip() or r[1].strip()]
    return rows + [("", "")] * max(1, 3 - len(rows))


def _replay(session, proposed: dict[int, float], applications: int) -> replay.Replay:
    context = routing()
    predictor, _ = context.learned.get(session)
    return replay.replay(
        session, context.cache.get(session), context.model or predictor, context.settings,
        k_of=lambda applicant: context.products_for(CHANNELS[applicant.channel]),
        changes=proposed, applications=applications)


@bp.post("/what-if/save")
def save_what_if():
    session = get_session()
    proposed, errors = _proposals(request.form)
    reason = request.form.get("reason", "").strip()
    if not reason:
        errors.append("reason: required; it goes in the audit log of every product changed")
    versions = {}
    for product_id in proposed:
        raw = request.form.get(f"version-{product_id}", "")
        if raw.isdigit():
            versions[product_id] = int(raw)
        else:
            errors.append(f"product {product_id}: version missing; run the what-if again")
    if not errors and not proposed:
        errors.append("nothing to save")
    status = 422
    if not errors:
        try:
            changed = products_service.update_many(
                session, g.principal, {pid: {"weight": w} for pid, w in proposed.items()},
                versions, reason=reason, apr_cap=current_app.config["APR_CAP"])
        except LendmatchError as error:
            errors = forms.messages(error.errors, "product ") or [error.message]
            status = error.status
            if error.status == 409:
                errors.append("Nothing was saved. Run the what-if again on the current "
                              "catalogue.")
    if errors:
        return _page(request.form, request.form.get("applications", DEFAULT_REPLAY), None,
                     errors, status)
    flash("Saved new weights for " + ", ".join(f"#{p.id} {p.name} → {p.weight:g}"
                                               for p in changed) + ".")
    return redirect(url_for("ops.what_if"))
