"""The console's blueprint, its sign-in guard, CSRF check, error pages and headers."""

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from console import auth
from core.errors import LendmatchError

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static", static_url_path="/static")

def routing():
    """This app's routing context: its clock, catalogue cache, models and settings."""
    return current_app.extensions["lendmatch.routing"]


OPEN_ENDPOINTS = {"ops.sign_in", "ops.static"}
# Scripts and styles only from this server; Chart.js draws on canvas, which needs none else.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@bp.before_request
def guard():
    if request.method == "POST" and not auth.csrf_valid():
        return render_template("console/error.html", title="Form expired",
                               message="This form is out of date or did not come from this "
                                       "console. Go back, reload the page and try again."), 400
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    g.principal = auth.signed_in()
    if g.principal is None:
        return redirect(url_for("ops.sign_in", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def headers(response):
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "ops.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(LendmatchError)
def domain_error(error: LendmatchError):
    return render_template("console/error.html", title=f"{error.status}",
                           message=error.message), error.status


@bp.app_template_global()
def csrf_token() -> str:
    return auth.csrf_token()
