"""Daily application caps: what routing believes is used, and reserving atomically.

**Reserving** is one conditional ``UPDATE ... SET applications = applications + 1 WHERE
applications < cap`` over the chosen products' and institutions' rows, with the cap read
live from the catalogue tables. Concurrent routers cannot both take the last unit: on
PostgreSQL the second waits for the first's row lock and then re-checks the condition
against the committed count; SQLite runs one writer at a time. Reserving and giving back
both lock rows in one global order (day, scope, id), so two transactions that each touch
the counters once never wait on each other in a cycle. One that touches them twice (an
expiry that gives back, then cascades and reserves) still can; PostgreSQL then aborts one
of them and the API runs that request again (``core.api``).

**Choosing** uses ``UsageView``, this process's picture of today's counters: re-read
from the database at most every ``max_age`` seconds, moved forward by this process's own
reservations, and told at once when a reservation finds a cap full. A stale picture can
only make a reservation fail; the router then rolls back and chooses again without that
product, so the caps hold exactly while the request path saves a query.
"""

import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date

import numpy as np
from sqlalchemy import bindparam, case, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lenders.models import Institution
from matching.models import DailyUsage, UsageScope
from products.models import Product

USAGE = DailyUsage.__table__
UNLIMITED = 2**31 - 1
PRODUCT, INSTITUTION = UsageScope.PRODUCT.value, UsageScope.INSTITUTION.value

_TODAY = select(USAGE.c.scope, USAGE.c.object_id, USAGE.c.applications).where(
    USAGE.c.day == bindparam("on_day"))
# Whole primary keys, so that every row is found by its index whatever the planner's
# statistics say (the table fills up from empty every day).
_ROWS = tuple_(USAGE.c.day, USAGE.c.scope, USAGE.c.object_id).in_(
    bindparam("keys", expanding=True))
_ENSURE = {
    name: dialect.insert(USAGE).on_conflict_do_nothing(
        index_elements=["day", "scope", "object_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_LOCK_ORDER = (USAGE.c.day, USAGE.c.scope, USAGE.c.object_id)


def _locked_in_order(rows):
    """The rows' whole keys, locked (PostgreSQL: FOR UPDATE) in the one global order."""
    return tuple_(*_LOCK_ORDER).in_(
        select(*_LOCK_ORDER).where(rows).order_by(*_LOCK_ORDER).with_for_update())


_CAP = case(
    (USAGE.c.scope == UsageScope.PRODUCT,
     select(Product.daily_application_cap).where(Product.id == USAGE.c.object_id)
     .scalar_subquery()),
    else_=select(Institution.daily_application_cap)
    .where(Institution.id == USAGE.c.object_id).scalar_subquery(),
)
_TAKE = (
    update(USAGE)
    .where(_locked_in_order(_ROWS), USAGE.c.applications < func.coalesce(_CAP, UNLIMITED))
    .values(applications=USAGE.c.applications + 1)
    .returning(USAGE.c.scope, USAGE.c.object_id)
)


_GIVE_BACK = (
    update(USAGE)
    .where(_locked_in_order(_ROWS), USAGE.c.applications > 0)
    .values(applications=USAGE.c.applications - 1)
)


class UsageView:
    """This process's picture of today's counters (see the module's docstring)."""

    def __init__(self, max_age_seconds: float = 1.0, clock=time.monotonic):
        self.max_age = max_age_seconds
        self.clock = clock
        self._day: date | None = None
        self._read_at = -float("inf")
        self._counts: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def used(self, session: Session, day: date, product_ids: np.ndarray,
             institution_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Applications believed routed today, aligned with the two id arrays."""
        if day != self._day or self.clock() - self._read_at > self.max_age:
            self._refresh(session, day)
        counts = self._counts
        return (np.array([counts.get((PRODUCT, i), 0) for i in product_ids.tolist()],
                         dtype=float),
                np.array([counts.get((INSTITUTION, i), 0) for i in institution_ids.tolist()],
                         dtype=float))

    def _refresh(self, session: Session, day: date) -> None:
        with self._lock:
            rows = session.connection().execute(_TODAY, {"on_day": day}).all()
            self._counts = {(str(scope), object_id): used for scope, object_id, used in rows}
            self._day, self._read_at = day, self.clock()

    def reserved(self, day: date, product_ids: list[int], institution_ids: list[int]) -> None:
        """Our own reservation committed: count it without waiting for the next read."""
        if day != self._day:
            return
        for key in [(PRODUCT, i) for i in product_ids] + [(INSTITUTION, i)
                                                           for i in institution_ids]:
            self._counts[key] = self._counts.get(key, 0) + 1

    def full(self, day: date, product_ids, institution_ids) -> None:
        """A reservation found these caps full: believe it until the next read."""
        if day != self._day:
            return
        for key in [(PRODUCT, i) for i in product_ids] + [(INSTITUTION, i)
                                                           for i in institution_ids]:
            self._counts[key] = float("inf")


def reserve(session: Session, day: date, product_ids: list[int],
            institution_ids: list[int]) -> tuple[set[int], set[int]]:
    """Take one unit of each product's and institution's cap for ``day``, inside the
    caller's transaction. Returns the product and institution ids whose cap was already
    full; if either is non-empty the caller must roll back and choose again.

    The counters' rows usually exist (one is made per product and institution per day),
    so the common case is a single UPDATE; rows missing from it are created and taken
    in a second pass."""
    connection = session.connection()
    wanted = {(PRODUCT, i) for i in product_ids} | {(INSTITUTION, i) for i in institution_ids}
    got = _take(connection, day, wanted)
    if got != wanted:
        missing = sorted(wanted - got)
        connection.execute(_ENSURE[connection.dialect.name],
                           [{"day": day, "scope": scope, "object_id": object_id,
                             "applications": 0} for scope, object_id in missing])
        got |= _take(connection, day, set(missing))
    full = wanted - got
    return ({i for scope, i in full if scope == PRODUCT},
            {i for scope, i in full if scope == INSTITUTION})


def _take(connection, day: date, pairs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    taken = connection.execute(_TAKE, {
        "keys": [(day, scope, object_id) for scope, object_id in sorted(pairs)]}).all()
    return {(str(scope), object_id) for scope, object_id in taken}


def release(session: Session, claims: Iterable[tuple[date, int | None, int | None]]) -> None:
    """Give back one unit per claim, ``(day, product_id, institution_id)`` with either id
    ``None`` for no unit of that scope (a routing expired undecided or withdrawn, or a
    reservation undone), inside the caller's transaction.

    All of a transaction's claims go in one statement, so its rows are locked in the one
    global order as reservations lock theirs: giving back each routing's units in turn
    would lock product before institution rows, against a reservation's order, and the
    two could deadlock. A unit claimed twice is given back by a second pass over rows
    this transaction already holds."""
    remaining = Counter()
    for day, product_id, institution_id in claims:
        if product_id is not None:
            remaining[(day, PRODUCT, product_id)] += 1
        if institution_id is not None:
            remaining[(day, INSTITUTION, institution_id)] += 1
    while remaining:
        keys = sorted(remaining)
        session.connection().execute(_GIVE_BACK, {"keys": keys})
        remaining -= Counter(keys)


def open_day(session: Session, day: date, product_ids: list[int],
             institution_ids: list[int]) -> int:
    """Create ``day``'s counters at zero where missing (the ``reset-daily-caps`` job, at
    local midnight), so the day's first reservations are single UPDATEs. Counters of
    earlier days stay, as the record of what was used. Returns how many were created."""
    connection = session.connection()
    # Created in the global lock order, as reservations create missing ones: a router
    # creating (institution, product) while this made products first deadlocked with it.
    rows = [{"day": day, "scope": scope, "object_id": i, "applications": 0}
            for scope, i in sorted({(PRODUCT, i) for i in product_ids}
                                   | {(INSTITUTION, i) for i in institution_ids})]
    if not rows:
        return 0
    before = connection.execute(select(func.count()).select_from(USAGE)
                                .where(USAGE.c.day == day)).scalar()
    connection.execute(_ENSURE[connection.dialect.name], rows)
    after = connection.execute(select(func.count()).select_from(USAGE)
                               .where(USAGE.c.day == day)).scalar()
    return after - before
