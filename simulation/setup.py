"""Build a simulated market's catalogue through the real services: institutions, their
products (every simulated borrower fits their hard rules, so what differs is the hidden
policy), and a borrower-app key."""

from core import keys
from core.db import new_session
from core.principal import Role, command_line
from lenders import service as lenders
from lenders.schemas import InstitutionIn
from products import service as products
from products.schemas import ProductIn
from simulation.driver import Run, borrower_principal, institution_principal
from simulation.market import REGIONS, Lender, Policy


def institution_body(name: str, cap: int | None = None) -> dict:
    return {"name": name, "kind": "consumer_finance", "licensed_regions": list(REGIONS),
            "decision_sla_seconds": 3600, "daily_application_cap": cap,
            "daily_funding_budget": 10_000_000_000}


def product_body(institution_id: int, name: str, *, apr: float = 0.18,
                 cap: int | None = None, weight: float = 1.0) -> dict:
    return {"institution_id": institution_id, "name": name, "type": "cash_loan",
            "amount_min": 1000, "amount_max": 50000, "term_min": 1, "term_max": 36,
            "term_unit": "month", "apr_min": round(apr - 0.03, 4), "apr_max": apr,
            "rules": {"age_min": 18, "age_max": 60, "income_min": 2000, "score_min": None,
                      "accepts_no_score": True, "dti_max": 1.0, "regions": [],
                      "regions_excluded": [], "employment": [], "channels": [],
                      "borrowers": "any"},
            "daily_application_cap": cap, "daily_funding_cap": None, "weight": weight}


def add_lender(session, config, name: str, policy: Policy, *, products_per: int = 1,
               cap: int | None = None, product_cap: int | None = None) -> Lender:
    who = command_line("simulation")
    institution = lenders.create(session, who, InstitutionIn().load(
        institution_body(name, cap)))
    ids = []
    for number in range(products_per):
        product = products.create(session, who, ProductIn().load(product_body(
            institution.id, f"{name} loan {number}", apr=policy.apr, cap=product_cap)),
            apr_cap=config["APR_CAP"])
        ids.append(product.id)
    return Lender(institution.id, ids, institution_principal(institution.id), policy)


def add_product(session, config, lender: Lender, name: str, policy: Policy | None = None,
                cap: int | None = None) -> int:
    product = products.create(session, command_line("simulation"), ProductIn().load(
        product_body(lender.institution_id, name, apr=lender.policy.apr, cap=cap)),
        apr_cap=config["APR_CAP"])
    lender.product_ids.append(product.id)
    if policy is not None:
        lender.product_policies[product.id] = policy
    return product.id


def borrower_app(session):
    row, _ = keys.create(session, command_line("simulation"), Role.BORROWER_APP)
    return borrower_principal(row.id)


def market(app, policies: list[Policy], *, seed: int, name: str = "Lender {}",
           seconds_between_arrivals: float = 5.0, **lender) -> tuple[list[Lender], Run]:
    """One lender per policy (``add_lender``'s options in ``lender``), a borrower-app key,
    and a ``Run`` that drives them on the app's routing clock."""
    with app.app_context():
        session = new_session()
        lenders = [add_lender(session, app.config, name.format(i), policy, **lender)
                   for i, policy in enumerate(policies)]
        run = Run(app, {le.institution_id: le for le in lenders}, borrower_app(session),
                  seed=seed, clock=app.extensions["lendmatch.routing"].clock,
                  seconds_between_arrivals=seconds_between_arrivals)
        session.close()
    return lenders, run
