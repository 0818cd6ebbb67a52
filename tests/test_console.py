"""The ops console through Flask's test client: signing in, the CSRF check, edits that
go through the API's services, the numbers behind the charts, model rollback and the
what-if. ``test_console_browser.py`` drives the same pages in a real browser."""

import re
from datetime import timedelta

import numpy as np
import pytest
from console_data import build_history, console_app
from sqlalchemy import func, select

from console import insights
from core import keys
from core.audit import AuditEntry
from core.db import new_session
from core.principal import Role, command_line
from learning.models import LearnedModel
from matching.models import Routing, RoutingStatus
from products.models import Product


@pytest.fixture
def history(database_url):
    app, clock = console_app(database_url)
    yield build_history(app, clock)
    app.extensions["lendmatch.engine"].dispose()


@pytest.fixture
def empty(database_url):
    app, clock = console_app(database_url)
    yield app
    app.extensions["lendmatch.engine"].dispose()


def make_key(app, role=Role.OPS, institution_id=None):
    with app.app_context():
        session = new_session()
        row, key = keys.create(session, command_line("tests"), role, institution_id,
                               label="console test")
        session.close()
    return row.id, key


def token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(app):
    key_id, key = make_key(app)
    client = app.test_client()
    page = client.get("/ops/sign-in").text
    response = client.post("/ops/sign-in", data={"key": key, "csrf_token": token(page)})
    assert response.status_code == 302, response.text
    return client, key_id


def read(app, fn):
    with app.app_context():
        session = new_session()
        try:
            return fn(session)
        finally:
            session.close()


def test_every_page_needs_an_ops_sign_in(empty):
    client = empty.test_client()
    for path in ("/ops/", "/ops/products", "/ops/institutions", "/ops/jobs", "/ops/what-if",
                 "/ops/products/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/ops/sign-in?next=")
    page = client.get("/ops/sign-in")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    # A wrong key, a borrower-app key and an empty field are all refused, with a reason.
    _, borrower = make_key(empty, Role.BORROWER_APP)
    for key, message in (("lm_0123456789ab_nope", "not a valid ops key"),
                         (borrower, "not a valid ops key"), ("  ", "Enter your ops API key")):
        response = client.post("/ops/sign-in", data={"key": key,
                                                     "csrf_token": token(page.text)})
        assert response.status_code == 401 and message in response.text
    assert client.get("/ops/").status_code == 302


def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it(empty):
    key_id, key = make_key(empty)
    client = empty.test_client()
    page = client.get("/ops/sign-in?next=/ops/jobs").text
    response = client.post("/ops/sign-in", data={"key": key, "csrf_token": token(page),
                                                 "next": "/ops/jobs"})
    assert response.status_code == 302 and response.headers["Location"] == "/ops/jobs"
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("lendmatch_ops="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ops" in cookie
    assert key not in cookie  # the cookie names the key's id, never the key
    home = client.get("/ops/")
    assert home.status_code == 200 and "console test" in home.text
    entries = read(empty, lambda s: s.scalars(select(AuditEntry).where(
        AuditEntry.action == "sign_in")).all())
    assert [e.actor for e in entries] == [f"key:{key_id}"]

    # Sign-out is a POST with the token; afterwards the pages are closed again.
    assert client.post("/ops/sign-out", data={}).status_code == 400
    assert client.post("/ops/sign-out",
                       data={"csrf_token": token(home.text)}).status_code == 302
    assert client.get("/ops/").status_code == 302


def test_next_never_leads_off_the_console(empty):
    _, key = make_key(empty)
    for target in ("https://evil.example/", "//evil.example/ops", "/v1/products"):
        client = empty.test_client()
        page = client.get("/ops/sign-in").text
        response = client.post("/ops/sign-in", data={"key": key, "csrf_token": token(page),
                                                     "next": target})
        assert response.headers["Location"] == "/ops/"


def test_a_revoked_key_is_signed_out_at_once(empty):
    client, key_id = signed_in(empty)
    assert client.get("/ops/").status_code == 200
    read(empty, lambda s: keys.revoke(s, command_line("tests"), key_id))
    assert client.get("/ops/").status_code == 302


def test_empty_pages_say_so(empty):
    client, _ = signed_in(empty)
    assert "No routings in the last 14 days" in client.get("/ops/").text
    assert "No product matches" in client.get("/ops/products").text
    assert "No institution matches" in client.get("/ops/institutions").text
    jobs = client.get("/ops/jobs").text
    assert "No job has run yet" in jobs and "No model has been trained yet" in jobs
    missing = client.get("/ops/products/999")
    assert missing.status_code == 404 and "no product 999" in missing.text
    page = client.get("/ops/what-if").text
    response = client.post("/ops/what-if", data={"csrf_token": token(page),
                                                 "applications": "100"})
    assert response.status_code == 422
    assert "propose at least one weight change" in response.text


def test_product_table_filters_searches_and_sorts(history):
    client, _ = signed_in(history.app)
    lender = history.lenders[2]

    def ids(query):
        page = client.get("/ops/products", query_string=query)
        assert page.status_code == 200
        return [int(i) for i in re.findall(r'<tr>\s*<td>(\d+)</td>', page.text)]

    assert ids({}) == sorted(p for le in history.lenders for p in le.product_ids)
    assert ids({"institution_id": lender.institution_id}) == lender.product_ids
    assert ids({"q": "lender 2 LOAN 1"}) == [lender.product_ids[1]]
    assert ids({"q": "%"}) == []  # a literal percent sign, not a wildcard
    assert ids({"sort": "id", "dir": "desc"})[0] == history.lenders[-1].product_ids[-1]
    # Sorted by routings in the last 7 days, busiest first: the all-declining lender's
    # products (it still gets routed) are not first; counts are non-increasing.
    page = client.get("/ops/products", query_string={"sort": "routed", "dir": "desc"}).text
    routed = [int(n) for n in re.findall(
        r'<td class="num">[^<]*</td>\s*<td class="num">(\d+)</td>\s*<td class="num">[\d.]+%',
        page)]
    assert routed == sorted(routed, reverse=True) and routed[0] > 0

    bad = client.get("/ops/products", query_string={"type": "mortgage", "sort": "colour"})
    assert "Unknown type &#39;mortgage&#39;" in bad.text
    assert "Cannot sort by &#39;colour&#39;" in bad.text


def test_a_weight_change_needs_a_reason_and_is_audited_like_the_api(history):
    client, key_id = signed_in(history.app)
    product_id = history.lenders[0].product_ids[0]
    url = f"/ops/products/{product_id}"
    page = client.get(url).text
    form = {"csrf_token": token(page), "version": "1", "weight": "2.5",
            "daily_application_cap": "", "daily_funding_cap": "", "status": "active"}

    def weight():
        return read(history.app, lambda s: s.get(Product, product_id).weight)

    def entries():
        return read(history.app, lambda s: s.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "product", AuditEntry.action == "update")).all())

    refused = client.post(url, data=form)
    assert refused.status_code == 422 and "reason: required when changing weight" in refused.text
    for bad, message in (("abc", "Not a valid number"), ("11", "less than or equal to 10")):
        refused = client.post(url, data=form | {"weight": bad, "reason": "x"})
        assert refused.status_code == 422 and message in refused.text
    same = client.post(url, data=form | {"weight": "1", "reason": "no change"})
    assert same.status_code == 422 and "nothing changed" in same.text
    assert weight() == 1.0 and entries() == []

    saved = client.post(url, data=form | {"reason": "strong repayment"})
    assert saved.status_code == 302
    assert weight() == 2.5
    [entry] = entries()
    assert entry.actor == f"key:{key_id}" and entry.reason == "strong repayment"
    assert entry.before == {"weight": 1.0, "version": 1}
    assert entry.after == {"weight": 2.5, "version": 2}
    page = client.get(url).text
    assert "strong repayment" in page and 'id="ops-weight">2.5<' in page

    # The form still says version 1: a second save is refused as stale, nothing written.
    stale = client.post(url, data=form | {"weight": "3", "reason": "again"})
    assert stale.status_code == 409 and "Someone changed this" in stale.text
    assert weight() == 2.5 and len(entries()) == 1

    # Without the CSRF token nothing happens at all.
    forged = client.post(url, data={k: v for k, v in form.items() if k != "csrf_token"}
                         | {"version": "2", "weight": "9", "reason": "forged"})
    assert forged.status_code == 400 and weight() == 2.5


def test_pausing_an_institution_and_setting_its_cap(history):
    client, _ = signed_in(history.app)
    institution_id = history.lenders[1].institution_id
    url = f"/ops/institutions/{institution_id}"
    form = {"csrf_token": token(client.get(url).text), "version": "1", "status": "paused",
            "daily_application_cap": "1,000", "daily_funding_budget": "",
            "reason": "incident at the lender"}
    assert client.post(url, data=form).status_code == 302
    from lenders.models import Institution

    row = read(history.app, lambda s: s.get(Institution, institution_id))
    assert row.status == "paused" and row.daily_application_cap == 1000
    assert row.daily_funding_budget is None
    page = client.get(url).text
    assert "incident at the lender" in page
    refused = client.post(url, data=form | {"version": "2", "daily_application_cap": "-5"})
    assert refused.status_code == 422 and "daily_application_cap" in refused.text


def test_the_funnel_counts_what_happened_to_each_days_routings(history):
    app, lender = history.app, history.lenders[0]
    context = app.extensions["lendmatch.routing"]

    def check(session):
        funnel = insights.funnel(session, context.clock(), context.cap_timezone, 5,
                                 institution_id=lender.institution_id)
        routed = session.scalar(select(func.count()).select_from(Routing).where(
            Routing.institution_id == lender.institution_id))
        approved = session.scalar(select(func.count()).select_from(Routing).where(
            Routing.institution_id == lender.institution_id,
            Routing.status == RoutingStatus.APPROVED))
        return funnel, routed, approved

    funnel, routed, approved = read(app, check)
    series = funnel["series"]
    assert sum(series["routed"]) == routed and sum(series["approved"]) == approved
    # The history spans three local days, the last two of the five shown are empty...
    assert [n > 0 for n in series["routed"]] == [False, False, True, True, True]
    # ...and every stage is at most the one before it.
    for earlier, later in (("routed", "approved"), ("approved", "accepted"),
                           ("accepted", "funded")):
        assert all(a >= b for a, b in zip(series[earlier], series[later], strict=True))
    assert funnel["totals"]["funded"] == funnel["totals"]["repaid"] + funnel["totals"]["bad"]
    assert funnel["totals"]["funded"] > 0


def test_calibration_bins_hold_every_decision(history):
    app = history.app
    context = app.extensions["lendmatch.routing"]
    generous, stingy = history.lenders[0], history.lenders[3]
    since = context.clock() - timedelta(days=30)
    good = read(app, lambda s: insights.calibration(s, generous.institution_id, since))
    bad = read(app, lambda s: insights.calibration(s, stingy.institution_id, since))
    for report in (good, bad):
        assert sum(b["count"] for b in report["bins"]) == report["decisions"] > 0
    # The lender that declines everyone shows observed 0 in every bin, far from its odds.
    assert bad["approval_rate"] == 0 and all(b["observed"] == 0 for b in bad["bins"])
    assert bad["ece"] == pytest.approx(bad["mean_prediction"])
    assert good["approval_rate"] > 0.5


def test_model_rollback_from_the_jobs_page(history):
    client, key_id = signed_in(history.app)
    page = client.get("/ops/jobs").text
    assert "update-models" in page and "recompute-weights" in page
    approval = read(history.app, lambda s: s.scalars(select(LearnedModel).where(
        LearnedModel.kind == "approval")).all())
    assert len(approval) == 1  # the only version is current: nothing to roll back to
    # Train once more on a new day of decisions, then roll back to the first version.
    from jobs import runner

    with history.app.app_context():
        session = new_session()
        for _ in range(10):
            history.run.arrive(session)
        history.run.decide_pending(session)
        session.close()
    assert runner.run(history.app, "update-models").status == "done"
    first = approval[0].id
    page = client.get("/ops/jobs").text
    assert f"/ops/models/{first}/rollback" in page
    url = f"/ops/models/{first}/rollback"
    refused = client.post(url, data={"csrf_token": token(page), "reason": ""})
    assert refused.status_code == 422 and "say why" in refused.text
    done = client.post(url, data={"csrf_token": token(page), "reason": "drifted overnight"})
    assert done.status_code == 302
    newest = read(history.app, lambda s: s.scalars(select(LearnedModel).where(
        LearnedModel.kind == "approval").order_by(LearnedModel.id.desc())).first())
    assert newest.summary["rolled_back_to"] == first
    assert newest.params == read(history.app, lambda s: s.get(LearnedModel, first).params)
    entry = read(history.app, lambda s: s.scalars(select(AuditEntry).where(
        AuditEntry.action == "model_rollback")).one())
    assert entry.actor == f"key:{key_id}" and entry.reason == "drifted overnight"


def test_what_if_moves_routings_and_saves_all_or_nothing(history):
    client, key_id = signed_in(history.app)
    favourite = history.lenders[0].product_ids[0]
    other = history.lenders[2].product_ids[0]
    page = client.get("/ops/what-if").text
    form = {"csrf_token": token(page), "applications": "60",
            "product_id": [str(favourite), str(other)], "weight": ["0", "10"]}
    response = client.post("/ops/what-if", data=form)
    assert response.status_code == 200, response.text
    rows = dict(re.findall(r'<tr>\s*<td>(\d+)</td>.*?<td class="num">(\d+ → \d+)</td>',
                           response.text, re.S))
    before, after = map(int, rows[str(favourite)].split(" → "))
    assert before > 0 and after == 0  # weight 0: never routed
    before, after = map(int, rows[str(other)].split(" → "))
    assert after > before
    assert "Replayed 60 applications" in response.text
    # Nothing is saved by a what-if.
    assert read(history.app, lambda s: s.get(Product, favourite).weight) == 1.0

    bad = client.post("/ops/what-if", data=form | {"weight": ["0", "99"]})
    assert bad.status_code == 422 and "row 2: weight" in bad.text
    twice = client.post("/ops/what-if", data=form | {"product_id": [str(other), str(other)]})
    assert twice.status_code == 422 and "proposed twice" in twice.text
    unknown = client.post("/ops/what-if", data=form | {"product_id": ["999", str(other)]})
    assert unknown.status_code == 422 and "no such product" in unknown.text

    save = {"csrf_token": form["csrf_token"], "product_id": form["product_id"],
            "weight": form["weight"], f"version-{favourite}": "1", f"version-{other}": "1"}
    missing_reason = client.post("/ops/what-if/save", data=save)
    assert missing_reason.status_code == 422 and "reason: required" in missing_reason.text
    # One stale version: neither product changes.
    stale = client.post("/ops/what-if/save", data=save | {f"version-{other}": "7",
                                                          "reason": "rebalance"})
    assert stale.status_code == 409 and "Nothing was saved" in stale.text
    weights = read(history.app, lambda s: {p.id: p.weight for p in s.scalars(
        select(Product).where(Product.id.in_([favourite, other])))})
    assert weights == {favourite: 1.0, other: 1.0}

    saved = client.post("/ops/what-if/save", data=save | {"reason": "rebalance"})
    assert saved.status_code == 302
    weights = read(history.app, lambda s: {p.id: p.weight for p in s.scalars(
        select(Product).where(Product.id.in_([favourite, other])))})
    assert weights == {favourite: 0.0, other: 10.0}
    entries = read(history.app, lambda s: s.scalars(select(AuditEntry).where(
        AuditEntry.action == "update", AuditEntry.object_type == "product")).all())
    assert sorted(int(e.object_id) for e in entries) == sorted([favourite, other])
    assert {e.reason for e in entries} == {"rebalance"}


def test_the_replay_is_the_engine_with_only_the_weights_changed(history):
    from matching import replay

    app = history.app
    context = app.extensions["lendmatch.routing"]
    # Routed to nobody now (lenders 0 and 1 fill K = 2); the top weight brings it in.
    product = history.lenders[2].product_ids[0]

    def run(session, changes):
        predictor, _ = context.learned.get(session)
        return replay.replay(session, context.cache.get(session), predictor,
                             context.settings, k_of=lambda a: context.k, changes=changes,
                             applications=50)

    unchanged = read(app, lambda s: run(s, {product: 1.0}))
    assert np.array_equal(unchanged.before.routed, unchanged.after.routed)
    assert unchanged.before.routed.sum() == 50 * context.k
    boosted = read(app, lambda s: run(s, {product: 10.0}))
    position = list(boosted.catalogue.product_id).index(product)
    assert boosted.before.routed[position] == 0 < boosted.after.routed[position]
    with pytest.raises(Exception, match="invalid input"):
        read(app, lambda s: run(s, {}))


def test_locking_and_rolling_back_a_learned_weight(history):
    from learning.models import ProductWeightVersion

    client, key_id = signed_in(history.app)
    versions = read(history.app, lambda s: s.scalars(select(ProductWeightVersion)).all())
    product_id = versions[0].product_id
    url = f"/ops/products/{product_id}"
    action = url + "/learned-weight"
    csrf = token(client.get(url).text)
    refused = client.post(action, data={"csrf_token": csrf, "action": "lock", "reason": ""})
    assert refused.status_code == 422 and "reason: required" in refused.text
    assert client.post(action, data={"csrf_token": csrf, "action": "lock",
                                     "reason": "hold it through the promotion"}
                       ).status_code == 302
    missing = client.post(action, data={"csrf_token": csrf, "action": "rollback",
                                        "version": "9", "reason": "x"})
    assert missing.status_code == 422 and "no weight version 9" in missing.text
    assert client.post(action, data={"csrf_token": csrf, "action": "rollback",
                                     "version": "1", "reason": "back to the first"}
                       ).status_code == 302
    history_rows = read(history.app, lambda s: s.scalars(
        select(ProductWeightVersion).where(ProductWeightVersion.product_id == product_id)
        .order_by(ProductWeightVersion.version)).all())
    assert [(v.version, v.locked, v.actor) for v in history_rows][1:] == [
        (2, True, f"key:{key_id}"), (3, True, f"key:{key_id}")]
    page = client.get(url).text
    assert "hold it through the promotion" in page and "unlock the multiplier" in page
