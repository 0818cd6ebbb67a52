"""Product use cases; each owns its transaction and writes its audit entry."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, edits
from core.db import page, transaction
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.principal import Principal, Role
from lenders.models import Institution
from products.models import Product, ProductStatus, TermUnit
from products.schemas import ProductOut

NEEDS_REASON = {"weight", "daily_application_cap", "daily_funding_cap", "status"}
MAX_TERM = {TermUnit.DAY: 3650, TermUnit.MONTH: 120}
_snapshot_schema = ProductOut(exclude=("created_at", "updated_at"))


def snapshot(product: Product) -> dict:
    return _snapshot_schema.dump(product)


def get_visible(session: Session, who: Principal, product_id: int) -> Product:
    """The product if it exists and ``who`` may see it; 404 alike otherwise."""
    product = session.get(Product, product_id)
    if product is None or not who.may_see_institution(product.institution_id):
        raise NotFound(f"no product {product_id}")
    return product


def list_visible(session: Session, who: Principal, *, status=None, type=None,
                 institution_id=None, offset: int, limit: int) -> tuple[list[Product], int]:
    query = select(Product).order_by(Product.id)
    if who.role == Role.INSTITUTION:
        query = query.where(Product.institution_id == who.institution_id)
    if institution_id is not None:
        query = query.where(Product.institution_id == institution_id)
    if status is not None:
        query = query.where(Product.status == status)
    if type is not None:
        query = query.where(Product.type == type)
    return page(session, query, offset=offset, limit=limit)


def create(session: Session, who: Principal, data: dict, *, apr_cap: float) -> Product:
    values = flatten(data)
    reason = values.pop("reason", None)
    with transaction(session):
        institution = session.get(Institution, values["institution_id"])
        if institution is None:
            raise InvalidInput({"institution_id": ["no such institution"]})
        check(values, institution, apr_cap)
        _ensure_name_free(session, institution.id, values["name"])
        product = Product(**values)
        session.add(product)
        edits.flush(session, "product")
        audit.record(session, who, "create", "product", product.id, after=snapshot(product),
                     reason=reason)
    return product


def update(session: Session, who: Principal, product_id: int, changes: dict,
           expected_version: int | None, *, apr_cap: float) -> Product:
    with transaction(session):
        return _update(session, who, product_id, changes, expected_version, apr_cap)


def update_many(session: Session, who: Principal, edits_by_product: dict[int, dict],
                expected_versions: dict[int, int], *, reason: str,
                apr_cap: float) -> list[Product]:
    """Several products changed together, all or none: each goes through the same checks
    and audit entry as ``update``, and a refusal of any one is reported under its id."""
    changed = []
    with transaction(session):
        for product_id, changes in edits_by_product.items():
            try:
                changed.append(_update(session, who, product_id, changes | {"reason": reason},
                                       expected_versions.get(product_id), apr_cap))
            except InvalidInput as error:
                raise InvalidInput({str(product_id): error.errors["json"]},
                                   message=f"product {product_id}: {error.message}") from None
            except (Conflict, NotFound, Forbidden) as error:
                raise type(error)(f"product {product_id}: {error.message}") from None
    return changed


def _update(session, who, product_id, changes, expected_version, apr_cap) -> Product:
    if who.role != Role.OPS:
        raise Forbidden("only ops may change a product")
    changes = flatten(changes)
    reason = changes.pop("reason", None)
    product = get_visible(session, who, product_id)
    edits.check_version(product.version, expected_version)
    edits.check_request(changes, reason, NEEDS_REASON)
    if changes.get("institution_id", product.institution_id) != product.institution_id:
        raise InvalidInput({"institution_id": ["a product cannot move to another "
                                               "institution; create a new one"]})
    if product.status == ProductStatus.RETIRED and changes.get("status") not in (
            None, ProductStatus.RETIRED):
        raise InvalidInput({"status": ["a retired product cannot be brought back"]})
    merged = {column: getattr(product, column) for column in _columns()} | changes
    institution = session.get(Institution, product.institution_id)
    check(merged, institution, apr_cap)
    if changes.get("name", product.name) != product.name:
        _ensure_name_free(session, product.institution_id, changes["name"])
    edits.apply_and_audit(session, who, product, changes, what="product",
                          snapshot=snapshot, reason=reason)
    return product


def _columns() -> list[str]:
    return [c.key for c in Product.__table__.columns]


def flatten(data: dict) -> dict:
    """Body fields to columns: the ``rules`` object's keys are columns of their own."""
    values = {k: v for k, v in data.items() if k != "rules"}
    values.update(data.get("rules", {}))
    return values


def check(values: dict, institution: Institution, apr_cap: float) -> None:
    """The rules that span fields; raises naming every broken one."""
    errors: dict = {}
    rules: dict = {}
    if values["amount_min"] > values["amount_max"]:
        errors["amount_min"] = [f"above amount_max ({values['amount_max']})"]
    if values["term_min"] > values["term_max"]:
        errors["term_min"] = [f"above term_max ({values['term_max']})"]
    longest = MAX_TERM[TermUnit(values["term_unit"])]
    if values["term_max"] > longest:
        errors["term_max"] = [f"at most {longest} {values['term_unit']}s"]
    if values["apr_min"] > values["apr_max"]:
        errors["apr_min"] = [f"above apr_max ({values['apr_max']})"]
    if values["apr_max"] > apr_cap:
        errors["apr_max"] = [f"above the regulatory APR cap {apr_cap}"]
    if values["age_min"] > values["age_max"]:
        rules["age_min"] = [f"above age_max ({values['age_max']})"]
    both = set(values["regions"]) & set(values["regions_excluded"])
    if both:
        rules["regions_excluded"] = [f"also listed as served: {', '.join(sorted(both))}"]
    unlicensed = set(values["regions"]) - set(institution.licensed_regions)
    if unlicensed:
        rules["regions"] = [f"institution not licensed in {', '.join(sorted(unlicensed))}"]
    if rules:
        errors["rules"] = rules
    if errors:
        raise InvalidInput(errors)


def _ensure_name_free(session: Session, institution_id: int, name: str) -> None:
    query = select(Product.id).where(Product.institution_id == institution_id,
                                     Product.name == name)
    if session.scalar(query) is not None:
        raise Conflict(f"this institution already has a product named {name!r}")

