"""Dates on the command line: Vietnamese dd/mm/yyyy beside ISO; naive times are Vietnam time."""

from __future__ import annotations

import datetime as dt

import typer

from tthc.settings import LOCAL_TZ


def parse_day(text: str, flag: str | None = None) -> dt.date:
    """dd/mm/yyyy (also dd-mm-yyyy, dd.mm.yyyy) or ISO yyyy-mm-dd."""
    raw = text.strip()
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise typer.BadParameter(f"{flag + ' ' if flag else ''}{text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)")


def parse_moment(text: str | None, flag: str) -> dt.datetime | None:
    """A day (local midnight), dd/mm/yyyy HH:MM, or an ISO datetime; naive values are Vietnam time."""
    if text is None:
        return None
    raw = text.strip()
    value = None
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"):
        try:
            value = dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
    if value is None:
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            try:
                day = parse_day(raw, flag)
            except typer.BadParameter:
                raise typer.BadParameter(
                    f"{flag} {text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd) or a datetime") from None
            value = dt.datetime.combine(day, dt.time())
    return value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)
