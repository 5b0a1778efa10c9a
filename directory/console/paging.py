"""Paging that stays cheap on large tables.

Django's Paginator runs an exact COUNT(*) of the whole result on every page, which
at 100,000 users is a scan of every matching row for each click. Here a page fetches
one row more than it shows (so "next" needs no count), the last page knows its total
without counting, and other pages count only up to `COUNT_LIMIT`: past that the
console says "more than 10,000". A page costs at most two queries, and their cost is
bounded, however large the organization is.

A page past the end (a stale link, or `?page=99999999999999999999`) shows the last
page. Finding it is the one case that counts exactly, so it costs a third query; page
numbers are capped first so the offset always fits the database's integer.
"""

from dataclasses import dataclass

from django.db.models import QuerySet

PER_PAGE = 50
COUNT_LIMIT = 10_000
# Far more pages than any organization has, and small enough that the offset, even at
# 500 a page, stays a 64-bit integer.
MAX_PAGE = 10_000_000


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    has_next: bool
    total: int
    total_is_capped: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def num_pages(self) -> int | None:
        """The number of pages, or None when the total is only known to be large."""
        if self.total_is_capped:
            return None
        return max(1, -(-self.total // self.per_page))

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def page_number(value) -> int:
    try:
        return min(max(1, int(value)), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


def paginate(queryset: QuerySet, *, page, per_page: int = PER_PAGE) -> Page:
    number = page_number(page)
    rows = _rows(queryset, number=number, per_page=per_page)
    if not rows and number > 1:
        number = _last_page_number(queryset, per_page=per_page)
        rows = _rows(queryset, number=number, per_page=per_page)
    offset = (number - 1) * per_page
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    if not has_next and (rows or number == 1):
        # The last page: the total is known without counting. This also spares a
        # narrow search, the costliest to count, its second scan.
        total, capped = offset + len(rows), False
    else:
        # The count drops the ordering (no sort needed) and stops at the limit.
        total = queryset.order_by()[: COUNT_LIMIT + 1].count()
        total, capped = min(total, COUNT_LIMIT), total > COUNT_LIMIT
    return Page(
        items=rows,
        number=number,
        per_page=per_page,
        has_next=has_next,
        total=total,
        total_is_capped=capped,
    )


def _rows(queryset: QuerySet, *, number: int, per_page: int) -> list:
    """The rows of page `number`, and one more if there is a next page."""
    offset = (number - 1) * per_page
    return list(queryset[offset : offset + per_page + 1])


def _last_page_number(queryset: QuerySet, *, per_page: int) -> int:
    return max(1, -(-queryset.order_by().count() // per_page))
