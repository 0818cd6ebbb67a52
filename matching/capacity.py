"""Daily application caps: reading what is used, and reserving atomically.

A reservation is one conditional ``UPDATE ... SET applications = applications + 1 WHERE
applications < cap`` over the chosen products' and institutions' rows, with the cap read
live from the catalogue tables. Concurrent routers cannot both take the last unit: on
PostgreSQL the second waits for the first's row lock and then re-checks the condition
against the committed count; SQLite runs one writer at a time. Rows are locked in one
global order (scope, id), so two routers never wait on each other in a cycle.
"""

from datetime import date

import numpy as np
from sqlalchemy import and_, case, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from core.db import insert_for
from lenders.models import Institution
from matching.models import DailyUsage, UsageScope
from products.models import Product

USAGE = DailyUsage.__table__
UNLIMITED = 2**31 - 1


def _rows_of(day: date, product_ids, institution_ids):
    return and_(USAGE.c.day == day, or_(
        and_(USAGE.c.scope == UsageScope.PRODUCT, USAGE.c.object_id.in_(product_ids)),
        and_(USAGE.c.scope == UsageScope.INSTITUTION, USAGE.c.object_id.in_(institution_ids)),
    ))


def used(session: Session, day: date, product_ids: np.ndarray,
         institution_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Applications already routed today, aligned with the two id arrays."""
    product_used = np.zeros(len(product_ids))
    institution_used = np.zeros(len(institution_ids))
    if len(product_ids) == 0 and len(institution_ids) == 0:
        return product_used, institution_used
    rows = session.execute(
        select(USAGE.c.scope, USAGE.c.object_id, USAGE.c.applications)
        .where(_rows_of(day, product_ids.tolist(), institution_ids.tolist()))
    ).all()
    counts = {UsageScope.PRODUCT: {}, UsageScope.INSTITUTION: {}}
    for scope, object_id, applications in rows:
        counts[UsageScope(scope)][object_id] = applications
    if counts[UsageScope.PRODUCT]:
        lookup = counts[UsageScope.PRODUCT]
        product_used = np.array([lookup.get(i, 0) for i in product_ids.tolist()], dtype=float)
    if counts[UsageScope.INSTITUTION]:
        lookup = counts[UsageScope.INSTITUTION]
        institution_used = np.array([lookup.get(i, 0) for i in institution_ids.tolist()],
                                    dtype=float)
    return product_used, institution_used


def reserve(session: Session, day: date, product_ids: list[int],
            institution_ids: list[int]) -> tuple[set[int], set[int]]:
    """Take one unit of each product's and institution's cap for ``day``, inside the
    caller's transaction. Returns the product and institution ids whose cap was already
    full; if either is non-empty the caller must roll back and choose again."""
    wanted = sorted([(UsageScope.PRODUCT.value, i) for i in product_ids]
                    + [(UsageScope.INSTITUTION.value, i) for i in institution_ids])
    session.execute(
        insert_for(session)(USAGE)
        .values([{"day": day, "scope": scope, "object_id": object_id, "applications": 0}
                 for scope, object_id in wanted])
        .on_conflict_do_nothing(index_elements=["day", "scope", "object_id"]))
    cap = case(
        (USAGE.c.scope == UsageScope.PRODUCT,
         select(Product.daily_application_cap).where(Product.id == USAGE.c.object_id)
         .scalar_subquery()),
        else_=select(Institution.daily_application_cap)
        .where(Institution.id == USAGE.c.object_id).scalar_subquery(),
    )
    locked_in_order = (
        select(USAGE.c.scope, USAGE.c.object_id)
        .where(_rows_of(day, list(product_ids), list(institution_ids)))
        .order_by(USAGE.c.scope, USAGE.c.object_id)
        .with_for_update()
    )
    taken = session.execute(
        update(USAGE)
        .where(USAGE.c.day == day,
               tuple_(USAGE.c.scope, USAGE.c.object_id).in_(locked_in_order),
               USAGE.c.applications < func.coalesce(cap, UNLIMITED))
        .values(applications=USAGE.c.applications + 1)
        .returning(USAGE.c.scope, USAGE.c.object_id)
    ).all()
    got = {(UsageScope(scope).value, object_id) for scope, object_id in taken}
    full = [pair for pair in wanted if pair not in got]
    return ({i for scope, i in full if scope == UsageScope.PRODUCT.value},
            {i for scope, i in full if scope == UsageScope.INSTITUTION.value})
