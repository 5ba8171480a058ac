"""Local calendar arithmetic: months and days as small integers.

State stores months as an index (months since 2000-01) and days as an index
(days since 2000-01-01), both in China Standard Time: small ints pack into a
few bytes, compare and subtract without parsing.
"""

from __future__ import annotations

import datetime as dt
import functools
from bisect import bisect_right

from engine.events import CST, instant

_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()


def month_index(month: str) -> int:
    """``YYYY-MM`` to months since 2000-01.

    >>> month_index("2000-01"), month_index("2026-03")
    (0, 314)
    """
    return (int(month[:4]) - 2000) * 12 + int(month[5:7]) - 1


def month_name(index: int) -> str:
    """>>> month_name(314)
    '2026-03'
    """
    year, month = divmod(index, 12)
    return f"{2000 + year:04d}-{month + 1:02d}"


def day_index(moment: dt.datetime | str) -> int:
    """The local (CST) day of a moment, as days since 2000-01-01.

    >>> day_index("2000-01-02T00:30:00+08:00"), day_index("2000-01-01T16:30:00Z")
    (1, 1)
    """
    if isinstance(moment, str):
        return _day_of_timestamp(moment)
    return moment.astimezone(CST).date().toordinal() - _EPOCH_DAY


# Records carry the same few thousand timestamps (a file's arrival time, dates),
# and the engine asks for their day several times per record.
@functools.lru_cache(maxsize=8192)
def _day_of_timestamp(moment: str) -> int:
    return instant(moment).astimezone(CST).date().toordinal() - _EPOCH_DAY


def day_date(index: int) -> dt.date:
    return dt.date.fromordinal(index + _EPOCH_DAY)


def day_name(index: int) -> str:
    """>>> day_name(0)
    '2000-01-01'
    """
    return day_date(index).isoformat()


def _first_day(month: int) -> int:
    year, m = divmod(month, 12)
    return dt.date(2000 + year, m + 1, 1).toordinal() - _EPOCH_DAY


# Month decisions ask for month boundaries, and the months of days, millions of
# times: a table of the months 2000-01 to 2099-12 answers without building a date.
_FIRST_DAYS = tuple(_first_day(m) for m in range(1201))
_TABLE_END = _FIRST_DAYS[-1]  # (2100-01-01: the months of later days are computed)


def first_day(month: int) -> int:
    """Day index of the first day of a month index.

    >>> first_day(0), first_day(1), first_day(314), first_day(1301) - first_day(1300)
    (0, 31, 9556, 31)
    """
    if 0 <= month <= 1200:
        return _FIRST_DAYS[month]
    return _first_day(month)


def month_of_day(index: int) -> int:
    """The month index a day index falls in.

    >>> month_of_day(0), month_of_day(30), month_of_day(31), month_of_day(-1), month_of_day(36525)
    (0, 0, 1, -1, 1200)
    """
    if 0 <= index < _TABLE_END:
        return bisect_right(_FIRST_DAYS, index) - 1
    date = day_date(index)
    return (date.year - 2000) * 12 + date.month - 1


def calendar_month(month: int) -> int:
    """1 for January ... 12 for December."""
    return month % 12 + 1


def day_timestamp(index: int) -> str:
    """The contract timestamp of a day's local midnight.

    >>> day_timestamp(0)
    '2000-01-01T00:00:00+08:00'
    """
    return f"{day_name(index)}T00:00:00+08:00"
