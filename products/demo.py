"""``flask --app app seed-demo``: a realistic, deterministic demo catalogue.

Shaped like the market in the brief: ~130 institutions (national and regional banks,
consumer-finance companies, online and local microlenders, trusts) and ~500 products of all
four types, 500–200,000 CNY over 7 days to 36 months at 7.2–24% APR, most open to
applicants with no bureau score, covering every mainland province.
"""

import random

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from core import audit, keys
from core.cli import uses_database
from core.db import get_session, transaction
from core.principal import Role, command_line
from core.regions import MAINLAND
from lenders.models import Institution
from lenders.schemas import InstitutionIn
from lenders.service import snapshot as institution_snapshot
from products import service as product_service
from products.models import Product
from products.schemas import ProductIn

SYLLABLES = ["hua", "xin", "jin", "tai", "heng", "feng", "rong", "cheng", "ming", "kang",
             "long", "sheng", "an", "yu", "bao", "ding", "fu", "hong", "jia", "le", "mei",
             "ning", "ping", "qian", "rui", "shun", "tong", "wei", "xiang", "yi", "zhong"]
PROVINCES = sorted(MAINLAND)
# Neighbouring provinces, for regional lenders licensed beyond their home province.
NEAR = {code: PROVINCES[max(0, i - 2):i] + PROVINCES[i + 1:i + 3]
        for i, code in enumerate(PROVINCES)}

# kind, how many, share licensed nationwide, products per institution
KINDS = [
    ("bank", 34, 0.3, (2, 5)),
    ("consumer_finance", 30, 1.0, (3, 6)),
    ("microlender", 46, 0.5, (2, 5)),
    ("trust", 12, 1.0, (2, 4)),
    ("other", 8, 0.5, (2, 4)),
]
SUFFIX = {"bank": "Bank", "consumer_finance": "Consumer Finance", "microlender": "Microcredit",
          "trust": "Trust", "other": "Fintech Lending"}
TYPES_BY_KIND = {
    "bank": ["cash_loan", "instalment", "revolving_line", "goods_instalment"],
    "consumer_finance": ["cash_loan", "instalment", "revolving_line", "goods_instalment"],
    "microlender": ["cash_loan", "cash_loan", "revolving_line", "instalment"],
    "trust": ["instalment", "cash_loan"],
    "other": ["goods_instalment", "instalment", "cash_loan"],
}
TYPE_LABEL = {"cash_loan": "Cash Loan", "instalment": "Instalment Loan",
              "revolving_line": "Credit Line", "goods_instalment": "Shopping Instalments"}
VARIANTS = ["Express", "Plus", "Flex", "Prime", "Easy", "Smart", "Gold", "Lite", "Pro"]


def _brand(rng: random.Random, taken: set[str]) -> str:
    while True:
        brand = (rng.choice(SYLLABLES) + rng.choice(SYLLABLES)).capitalize()
        if brand not in taken:
            taken.add(brand)
            return brand


def _institution(rng: random.Random, kind: str, brand: str, nationwide: bool) -> dict:
    if nationwide:
        licensed = PROVINCES
        name = f"{brand} {SUFFIX[kind]}"
    else:
        home = rng.choice(PROVINCES)
        licensed = sorted({home, *rng.sample(NEAR[home], rng.randint(0, len(NEAR[home])))})
        name = f"{MAINLAND[home]} {brand} {SUFFIX[kind]}"
    return {
        "name": name, "kind": kind, "licensed_regions": licensed,
        "decision_sla_seconds": rng.choice([30, 60, 120, 300, 600, 1800]),
        "daily_application_cap": rng.choice([None, 2000, 5000, 10000, 20000]),
        "daily_funding_budget": rng.choice([None, 5_000_000, 20_000_000, 100_000_000]),
        "status": "paused" if rng.random() < 0.03 else "active",
    }


def _shape(rng: random.Random, kind: str, product_type: str) -> dict:
    """Amount, term and APR ranges typical of this kind of lender and product."""
    if kind == "microlender" and product_type == "cash_loan":
        # Short payday-style loans: 500–5,000 CNY over 7–30 days (seed 004).
        return {"amount_min": rng.choice([500, 800, 1000]),
                "amount_max": rng.choice([2000, 3000, 5000]),
                "term_min": 7, "term_max": rng.choice([14, 21, 30]), "term_unit": "day",
                "apr_min": round(rng.uniform(0.18, 0.21), 3), "apr_max": 0.24}
    if product_type == "revolving_line":
        return {"amount_min": rng.choice([500, 1000, 2000]),
                "amount_max": rng.choice([10000, 20000, 30000, 50000]),
                "term_min": 1, "term_max": rng.choice([6, 12]), "term_unit": "month",
                "apr_min": round(rng.uniform(0.10, 0.18), 3),
                "apr_max": round(rng.uniform(0.20, 0.24), 3)}
    if product_type == "goods_instalment":
        return {"amount_min": rng.choice([500, 1000]),
                "amount_max": rng.choice([5000, 10000, 20000]),
                "term_min": 3, "term_max": rng.choice([12, 18, 24]), "term_unit": "month",
                "apr_min": round(rng.uniform(0.072, 0.12), 3),
                "apr_max": round(rng.uniform(0.15, 0.22), 3)}
    if kind in ("bank", "trust"):
        return {"amount_min": rng.choice([5000, 10000, 20000]),
                "amount_max": rng.choice([50000, 100000, 150000, 200000]),
                "term_min": rng.choice([3, 6, 12]), "term_max": rng.choice([24, 36]),
                "term_unit": "month", "apr_min": round(rng.uniform(0.072, 0.10), 3),
                "apr_max": round(rng.uniform(0.15, 0.20), 3)}
    # Ma Shang-like consumer credit: a few thousand CNY over about 12 months at 18–24%.
    return {"amount_min": rng.choice([1000, 2000, 3000]),
            "amount_max": rng.choice([20000, 30000, 50000]),
            "term_min": rng.choice([3, 6]), "term_max": rng.choice([12, 24, 36]),
            "term_unit": "month", "apr_min": round(rng.uniform(0.12, 0.18), 3),
            "apr_max": round(rng.uniform(0.20, 0.24), 3)}


def _rules(rng: random.Random, kind: str, product_type: str, licensed: list[str]) -> dict:
    strict = kind in ("bank", "trust")
    score_min = rng.choice([550, 600, 650, 700]) if rng.random() < (0.6 if strict else 0.2) \
        else None
    rules = {
        "age_min": rng.choice([18, 20, 22]),
        "age_max": rng.choice([55, 60, 65]),
        "income_min": rng.choice([3000, 5000, 8000] if strict else [0, 1500, 2000, 3000]),
        "score_min": score_min,
        # Most products take thin-file applicants: only ~15% of people have a bureau record.
        "accepts_no_score": score_min is None or rng.random() < (0.3 if strict else 0.8),
        "dti_max": rng.choice([None, 0.4, 0.5, 0.6, 0.8]),
        "borrowers": rng.choices(["any", "first_time", "repeat"], [0.75, 0.1, 0.15])[0],
        "regions": [], "regions_excluded": [], "employment": [], "channels": [],
    }
    if len(licensed) > 5 and rng.random() < 0.15:
        rules["regions"] = sorted(rng.sample(licensed, rng.randint(3, 8)))
    elif len(licensed) > 5 and rng.random() < 0.15:
        rules["regions_excluded"] = sorted(rng.sample(licensed, rng.randint(1, 2)))
    if strict and rng.random() < 0.5:
        rules["employment"] = ["salaried", "self_employed"]
    elif rng.random() < 0.15:
        rules["employment"] = ["gig", "salaried", "self_employed"]
    if product_type == "goods_instalment":
        rules["channels"] = sorted(rng.sample(["ecommerce", "retail", "travel", "education"],
                                              rng.randint(1, 3)))
    elif rng.random() < 0.2:
        rules["channels"] = sorted(rng.sample(["app", "ecommerce", "social", "partner"], 2))
    return rules


def _product(rng: random.Random, kind: str, product_type: str, brand: str,
             licensed: list[str], taken: set[str]) -> dict:
    while True:
        name = f"{brand} {TYPE_LABEL[product_type]} {rng.choice(VARIANTS)}"
        if name not in taken:
            taken.add(name)
            break
    application_cap = rng.choice([None, 300, 500, 1000, 2000, 5000])
    shape = _shape(rng, kind, product_type)
    typical_amount = (shape["amount_min"] + shape["amount_max"]) // 2
    return {
        "name": name, "type": product_type, **shape,
        "rules": _rules(rng, kind, product_type, licensed),
        "daily_application_cap": application_cap,
        "daily_funding_cap": None if application_cap is None
        else application_cap * typical_amount // 10,
        "weight": 1.0,
        "status": "paused" if rng.random() < 0.03 else "active",
    }


DEFAULT_INSTITUTIONS = sum(count for _, count, _, _ in KINDS)


def generate(seed: int, institutions: int = DEFAULT_INSTITUTIONS,
             products: int | None = None) -> list[tuple[dict, list[dict]]]:
    """The demo catalogue for ``seed``: institutions, each with its products (API bodies).
    ``institutions`` keeps the mix of kinds; ``products`` fixes the total (spread evenly)
    instead of each institution's usual random count."""
    rng = random.Random(seed)
    brands: set[str] = set()
    catalogue = []
    counts = [max(1, round(count * institutions / DEFAULT_INSTITUTIONS))
              for _, count, _, _ in KINDS]
    counts[counts.index(max(counts))] += institutions - sum(counts)
    total = sum(counts)
    for (kind, _, nationwide_share, (fewest, most)), count in zip(KINDS, counts,
                                                                 strict=True):
        for _ in range(count):
            brand = _brand(rng, brands)
            institution = _institution(rng, kind, brand, rng.random() < nationwide_share)
            names: set[str] = set()
            offered = TYPES_BY_KIND[kind]
            if products is None:
                how_many = rng.randint(fewest, most)
            else:
                how_many = products // total + (len(catalogue) < products % total)
            catalogue.append((institution, [
                _product(rng, kind, rng.choice(offered), brand,
                         institution["licensed_regions"], names)
                for _ in range(how_many)]))
    _cover_the_extremes(catalogue)
    return catalogue


def _cover_the_extremes(catalogue) -> None:
    """Make sure the catalogue spans the whole range the brief describes."""
    bank = next(products for institution, products in catalogue
                if institution["kind"] == "bank")
    bank[0].update(amount_max=200000, term_max=36, term_unit="month", apr_min=0.072)
    micro = next(products for institution, products in catalogue
                 if institution["kind"] == "microlender")
    micro[0].update(type="cash_loan", amount_min=500, term_min=7, term_max=30,
                    term_unit="day", apr_max=0.24)


def seed(session, seed_value: int, apr_cap: float, *,
         institutions: int = DEFAULT_INSTITUTIONS,
         products: int | None = None) -> tuple[int, int]:
    """Write the demo catalogue in one transaction, validated like API input."""
    who = command_line("seed-demo")
    institution_schema, product_schema = InstitutionIn(), ProductIn()
    products_written = 0
    catalogue = generate(seed_value, institutions, products)
    with transaction(session):
        for number, (institution_body, product_bodies) in enumerate(catalogue, 1):
            institution = Institution(**institution_schema.load(institution_body))
            session.add(institution)
            session.flush()
            audit.record(session, who, "create", "institution", institution.id,
                         after=institution_snapshot(institution), reason="demo catalogue")
            for body in product_bodies:
                values = product_service.flatten(
                    product_schema.load({**body, "institution_id": institution.id}))
                product_service.check(values, institution, apr_cap)
                product = Product(**values)
                session.add(product)
                session.flush()
                audit.record(session, who, "create", "product", product.id,
                             after=product_service.snapshot(product), reason="demo catalogue")
                products_written += 1
            if number % 25 == 0:
                click.echo(f"  {number}/{len(catalogue)} institutions written", err=True)
    return len(catalogue), products_written


@click.command("seed-demo")
@with_appcontext
@uses_database
@click.option("--seed", "seed_value", default=7, show_default=True, type=int,
              help="the same seed always gives the same catalogue")
@click.option("--institutions", default=DEFAULT_INSTITUTIONS, show_default=True,
              type=click.IntRange(len(KINDS), 5000), help="how many institutions")
@click.option("--products", default=None, type=click.IntRange(1, 50000),
              help="total products, spread evenly (default: 2 to 6 per institution)")
@click.option("--keys/--no-keys", "make_keys", default=True, show_default=True,
              help="also create and print demo API keys and an example curl")
def seed_demo_command(seed_value: int, institutions: int, products: int | None,
                      make_keys: bool) -> None:
    """Fill an empty catalogue with a realistic demo one (and print demo keys)."""
    session = get_session()
    existing = session.scalar(select(func.count()).select_from(Institution))
    if existing:
        click.echo(f"the catalogue already has {existing} institutions; not seeding again")
    else:
        written = seed(session, seed_value, current_app.config["APR_CAP"],
                       institutions=institutions, products=products)
        click.echo(f"seeded {written[0]} institutions and {written[1]} products "
                   f"(seed {seed_value})")
    if make_keys:
        _print_demo_keys(session)


def _print_demo_keys(session) -> None:
    who = command_line("seed-demo")
    first = session.scalar(select(Institution).order_by(Institution.id).limit(1))
    _, ops = keys.create(session, who, Role.OPS, label="demo ops")
    _, app_key = keys.create(session, who, Role.BORROWER_APP, label="demo borrower app")
    _, lender = keys.create(session, who, Role.INSTITUTION, first.id,
                            label=f"demo key of {first.name}")
    click.echo("\ndemo API keys (shown once; make more with `flask --app app create-key`):")
    click.echo(f"  ops           {ops}")
    click.echo(f"  borrower_app  {app_key}")
    click.echo(f"  institution   {lender}   ({first.name}, id {first.id})")
    click.echo("\ntry:")
    click.echo(f"  curl -s -H 'Authorization: Bearer {ops}' "
               "'http://127.0.0.1:5000/v1/products?type=cash_loan&page_size=3'")
