"""Daily application caps: reading what is used, and reserving atomically.

A reservation is one conditional ``UPDATE ... SET applications = applications + 1 WHERE
applications < cap`` over the chosen products' and institutions' rows, with the cap read
live from the catalogue tables. Concurrent routers cannot both take the last unit: on
PostgreSQL the second waits for the first's row lock and then re-checks the condition
against the committed count; SQLite runs one writer at a time. Rows are locked in one
global order (scope, id), so two routers never wait on each other in a cycle.

The statements are built once with expanding parameters, so each request only binds
values (this is the hot path).
"""

from datetime import date

import numpy as np
from sqlalchemy import and_, bindparam, case, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lenders.models import Institution
from matching.models import DailyUsage, UsageScope
from products.models import Product

USAGE = DailyUsage.__table__
UNLIMITED = 2**31 - 1
PRODUCT, INSTITUTION = UsageScope.PRODUCT.value, UsageScope.INSTITUTION.value

_ROWS = and_(USAGE.c.day == bindparam("on_day"), or_(
    and_(USAGE.c.scope == UsageScope.PRODUCT,
         USAGE.c.object_id.in_(bindparam("product_ids", expanding=True))),
    and_(USAGE.c.scope == UsageScope.INSTITUTION,
         USAGE.c.object_id.in_(bindparam("institution_ids", expanding=True))),
))
_READ = select(USAGE.c.scope, USAGE.c.object_id, USAGE.c.applications).where(_ROWS)
_ENSURE = {
    name: dialect.insert(USAGE).on_conflict_do_nothing(
        index_elements=["day", "scope", "object_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_CAP = case(
    (USAGE.c.scope == UsageScope.PRODUCT,
     select(Product.daily_application_cap).where(Product.id == USAGE.c.object_id)
     .scalar_subquery()),
    else_=select(Institution.daily_application_cap)
    .where(Institution.id == USAGE.c.object_id).scalar_subquery(),
)
_TAKE = (
    update(USAGE)
    .where(USAGE.c.day == bindparam("on_day"),
           tuple_(USAGE.c.scope, USAGE.c.object_id).in_(
               select(USAGE.c.scope, USAGE.c.object_id).where(_ROWS)
               .order_by(USAGE.c.scope, USAGE.c.object_id)
               .with_for_update()),
           USAGE.c.applications < func.coalesce(_CAP, UNLIMITED))
    .values(applications=USAGE.c.applications + 1)
    .returning(USAGE.c.scope, USAGE.c.object_id)
)


def used(session: Session, day: date, product_ids: np.ndarray,
         institution_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Applications already routed today, aligned with the two id arrays."""
    product_used = np.zeros(len(product_ids))
    institution_used = np.zeros(len(institution_ids))
    if len(product_ids) == 0 and len(institution_ids) == 0:
        return product_used, institution_used
    rows = session.connection().execute(_READ, {
        "on_day": day, "product_ids": product_ids.tolist(),
        "institution_ids": institution_ids.tolist()}).all()
    counts = {PRODUCT: {}, INSTITUTION: {}}
    for scope, object_id, applications in rows:
        counts[str(scope)][object_id] = applications
    if counts[PRODUCT]:
        lookup = counts[PRODUCT]
        product_used = np.array([lookup.get(i, 0) for i in product_ids.tolist()], dtype=float)
    if counts[INSTITUTION]:
        lookup = counts[INSTITUTION]
        institution_used = np.array([lookup.get(i, 0) for i in institution_ids.tolist()],
                                    dtype=float)
    return product_used, institution_used


def reserve(session: Session, day: date, product_ids: list[int],
            institution_ids: list[int]) -> tuple[set[int], set[int]]:
    """Take one unit of each product's and institution's cap for ``day``, inside the
    caller's transaction. Returns the product and institution ids whose cap was already
    full; if either is non-empty the caller must roll back and choose again."""
    connection = session.connection()
    wanted = sorted([(PRODUCT, i) for i in product_ids]
                    + [(INSTITUTION, i) for i in institution_ids])
    connection.execute(_ENSURE[connection.dialect.name],
                       [{"day": day, "scope": scope, "object_id": object_id,
                         "applications": 0} for scope, object_id in wanted])
    taken = connection.execute(_TAKE, {"on_day": day, "product_ids": list(product_ids),
                                       "institution_ids": list(institution_ids)}).all()
    got = {(str(scope), object_id) for scope, object_id in taken}
    full = [pair for pair in wanted if pair not in got]
    return ({i for scope, i in full if scope == PRODUCT},
            {i for scope, i in full if scope == INSTITUTION})
