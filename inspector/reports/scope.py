"""Which inspections a report or a dataset export covers, and reading them from the store.

A :class:`ReportScope` combines a period, a run, a recipe (optionally one version) and a lot; unset
fields do not filter. Reading goes through the store's own query API only
(:meth:`InspectionStore.query`), page by page in inspection order, so a report of a month of
inspections never holds more than one page of records and new inspections logged while it is being
read do not upset the paging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo

from inspector.errors import InspectorError
from inspector.store import InspectionFilter, InspectionRecord, InspectionStore, Order, RunRecord

PAGE = 1000  # records per store query


class ReportError(InspectorError):
    """A report or an export cannot be made (the message says why and what to do)."""


@dataclass(frozen=True)
class ReportScope:
    """What a report covers. Unset fields do not filter; set fields all apply together.

    Attributes:
        since: First instant (inclusive, timezone-aware).
        until: End (exclusive, timezone-aware).
        run_id: One run (a folder pass, a camera session or a shift).
        recipe_name: One recipe, all its versions unless ``recipe_version`` is set.
        recipe_version: One version (1, 2, ...) of ``recipe_name``.
        lot: Every run logged with this lot number.
        station: One station's parts (in a central database shared by many stations).
    """

    since: datetime | None = None
    until: datetime | None = None
    run_id: str | None = None
    recipe_name: str | None = None
    recipe_version: int | None = None
    lot: str | None = None
    station: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ReportError(f"The report's '{name}' time must carry a time zone, got {value.isoformat()}.")
        if self.since and self.until and self.since >= self.until:
            raise ReportError(
                f"The report period is empty: it would start at {format_time(self.since)} and end at "
                f"{format_time(self.until)} (an end date counts up to the end of that day). Check the dates."
            )
        if self.recipe_version is not None and not self.recipe_name:
            raise ReportError("A recipe version needs the recipe's name too (for example bracket-A:2).")
        for name in ("run_id", "recipe_name", "lot", "station"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, value.strip() or None)

    def describe(self, tz: tzinfo | None = None) -> str:
        """One line a person reads: ``lot L-17, recipe bracket-A v2, 2025-03-01 06:00 to ...``."""
        parts = []
        if self.station:
            parts.append(f"station {self.station}")
        if self.lot:
            parts.append(f"lot {self.lot}")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.recipe_name:
            version = f" v{self.recipe_version}" if self.recipe_version is not None else " (all versions)"
            parts.append(f"recipe {self.recipe_name}{version}")
        if self.since or self.until:
            start = format_time(self.since, tz) if self.since else "the first inspection"
            end = format_time(self.until, tz) if self.until else "the last inspection"
            parts.append(f"from {start} to {end}")
        return ", ".join(parts) if parts else "all inspections"


@dataclass(frozen=True)
class ResolvedScope:
    """A scope checked against the database: the filters to query and the runs it names."""

    scope: ReportScope
    filters: tuple[InspectionFilter, ...]  # queried one after the other
    runs: tuple[RunRecord, ...]  # the runs named by run_id / lot (empty: not scoped by run)
    recipe_version_id: str | None


def resolve_scope(store: InspectionStore, scope: ReportScope) -> ResolvedScope:
    """Check a scope against the database and turn it into store filters.

    Raises:
        ReportError: the run, recipe, version or lot is not in the database (the message lists what is).
    """
    base = InspectionFilter(since=scope.since, until=scope.until, station=scope.station)
    version_id = None
    if scope.recipe_name:
        versions = store.recipe_versions(scope.recipe_name)
        if not versions:
            known = ", ".join(store.recipe_names()[:20]) or "none yet"
            raise ReportError(f"There is no recipe called '{scope.recipe_name}' in the database (recipes: {known}).")
        if scope.recipe_version is not None:
            match = [v for v in versions if v.version == scope.recipe_version]
            if not match:
                have = ", ".join(f"v{v.version}" for v in versions)
                raise ReportError(
                    f"Recipe '{scope.recipe_name}' has no version {scope.recipe_version} (it has {have})."
                )
            version_id = match[0].id
            base = replace(base, recipe_version_id=version_id)
        else:
            base = replace(base, recipe_name=scope.recipe_name)
    runs: list[RunRecord] = []
    if scope.run_id:
        try:
            runs = [store.get_run(scope.run_id)]
        except InspectorError as error:
            raise ReportError(f"There is no run {scope.run_id} in the database: {error}") from error
    if scope.lot:
        lot_runs = [r for r in all_runs(store) if (r.lot or "").strip() == scope.lot]
        if not lot_runs:
            lots = sorted({r.lot for r in all_runs(store) if r.lot})
            raise ReportError(
                f"No run was logged with lot '{scope.lot}' (lots in the database: {', '.join(lots[:20]) or 'none'})."
            )
        runs = [r for r in lot_runs if not scope.run_id or r.id == scope.run_id]
        if not runs:
            raise ReportError(f"Run {scope.run_id} does not belong to lot '{scope.lot}'.")
    runs.sort(key=lambda r: (r.started_at, r.id))
    filters = tuple(replace(base, run_id=r.id) for r in runs) if (scope.run_id or scope.lot) else (base,)
    return ResolvedScope(scope, filters, tuple(runs), version_id)


def all_runs(store: InspectionStore) -> list[RunRecord]:
    """Every run in the database, newest first."""
    found: list[RunRecord] = []
    while True:
        page = store.runs(offset=len(found), limit=500)
        found += page
        if len(page) < 500:
            return found


def iter_records(
    store: InspectionStore,
    resolved: ResolvedScope,
    *,
    page: int = PAGE,
    check: Callable[[], None] | None = None,
) -> Iterator[InspectionRecord]:
    """Every inspection in scope, oldest first within each filter, one store page at a time.

    Pages follow a cursor (the last inspection time, plus how many rows at exactly that time were
    already read), so each page costs the same however deep into the table it is, and parts logged
    while this runs are either read once or not at all, never twice.
    """
    for where in resolved.filters:
        cursor: datetime | None = None
        seen_at_cursor = 0
        while True:
            if check is not None:
                check()
            since = where.since if cursor is None else cursor  # records never precede where.since
            batch = store.query(replace(where, since=since), offset=seen_at_cursor, limit=page, order=Order.OLDEST)
            yield from batch
            if len(batch) < page:
                break
            last = batch[-1].inspected_at
            same = sum(1 for r in batch if r.inspected_at == last)
            seen_at_cursor = seen_at_cursor + same if last == cursor else same
            cursor = last


def count_in_scope(store: InspectionStore, resolved: ResolvedScope) -> int:
    return sum(store.count(where) for where in resolved.filters)


# -- times ----------------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def to_zone(value: datetime, tz: tzinfo | None) -> datetime:
    """``value`` in ``tz``; None means this computer's local time (with its daylight-saving rules)."""
    return value.astimezone(tz) if tz is not None else value.astimezone()


def format_time(value: datetime | None, tz: tzinfo | None = None, *, seconds: bool = False, zone: bool = True) -> str:
    """``2025-03-01 07:05 CET``: a time as a person reads it, in ``tz`` (None: local time)."""
    if value is None:
        return "-"
    shown = to_zone(value, tz)
    text = shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    name = (shown.tzname() or "") if zone else ""
    return f"{text} {name}".strip()


def parse_when(text: str, *, end: bool = False, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """A point in time from the command line, timezone-aware.

    Accepts ISO dates and times (``2025-03-01``, ``2025-03-01 06:00``, ``2025-03-01T06:00+01:00``;
    without an offset they are local time), ``now``, ``today``, ``yesterday``, and durations ago
    (``8h``, ``30m``, ``2d``, ``1w``). With ``end=True`` a bare date means the end of that day, so
    ``--from 2025-03-01 --to 2025-03-01`` is the whole of 1 March.
    """
    now = now or datetime.now(UTC)
    raw = text.strip().lower()
    if raw == "now":
        return now
    if raw in ("today", "yesterday"):
        day = to_zone(now, tz).date() - timedelta(days=1 if raw == "yesterday" else 0)
        return _local(datetime.combine(day + timedelta(days=1 if end else 0), datetime.min.time()), tz)
    if match := _DURATION.fullmatch(raw):
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(
            f"Cannot read the time '{text}': use 2025-03-01, '2025-03-01 06:00', today, yesterday or 8h (ago)."
        ) from None
    if end and len(text.strip()) <= 10:  # a bare date: up to the end of that day
        value += timedelta(days=1)
    return _local(value, tz) if value.tzinfo is None else value


def _local(naive: datetime, tz: tzinfo | None) -> datetime:
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
