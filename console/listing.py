"""Tables with filter, search, sort and pages, driven by the query string."""

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

PAGE_SIZE = 50


@dataclass
class Table:
    rows: list
    total: int
    page: int
    pages: int
    sort: str
    direction: str
    args: dict                      # the query string that produced this table
    errors: list[str] = field(default_factory=list)

    def args_with(self, **changes) -> dict:
        """This table's query string with some values changed (sort links, pages)."""
        return {k: v for k, v in (self.args | changes).items() if v not in (None, "")}

    def sort_args(self, column: str) -> dict:
        direction = "desc" if self.sort == column and self.direction == "asc" else "asc"
        return self.args_with(sort=column, dir=direction, page=None)


def choice(args, name: str, allowed, errors: list[str]) -> str | None:
    """A filter value from the query string if it is one of ``allowed``; else an error."""
    value = args.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        errors.append(f"Unknown {name} {value!r}: pick one of {', '.join(allowed)}.")
        return None
    return value


def whole_number(args, name: str, errors: list[str]) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 2**31 - 1:
        errors.append(f"{name} must be a whole number, not {value!r}.")
        return None
    return int(value)


def paged(session: Session, query, args, sorts: dict, default: str, errors: list[str],
          tiebreak) -> Table:
    """Sort by a whitelisted column (ties by the first column), count, and cut a page."""
    sort = args.get("sort", default)
    if sort not in sorts:
        errors.append(f"Cannot sort by {sort!r}; sorted by {default}.")
        sort = default
    direction = "desc" if args.get("dir") == "desc" else "asc"
    column = sorts[sort]
    order = column.desc().nulls_last() if direction == "desc" else column.asc().nulls_first()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = whole_number(args, "page", errors) or 1
    page = min(max(page, 1), pages)
    rows = session.execute(query.order_by(order, tiebreak)
                           .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return Table(rows=rows, total=total, page=page, pages=pages, sort=sort,
                 direction=direction, args=dict(args.items()), errors=errors)
