"""The manuals' whitelist CSV: header ``UID,GID,Expiry,Authorization`` (seed-001 §4.3).

One card per line: ``aec78085,,,accepted`` or ``4b13b318,,2030-01-01T12:00:00,blocked``.
``Expiry`` is empty or ``YYYY-MM-DDTHH:MM:SS``; ``Authorization`` is ``accepted`` or
``blocked``. A card restricted to one connector carries the suffix ``_<connector>`` on its
UID (seed-003 §2.8: ``04A2B3C4_1``). At most 1000 cards. Parsing checks every line and
returns every problem with its line number, so an import is all or nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from chargebox.store.whitelist import WhitelistEntry

__all__ = ["HEADER", "MAX_ENTRIES", "CsvProblem", "ParsedCsv", "export_csv", "parse_csv"]

HEADER = ["UID", "GID", "Expiry", "Authorization"]
MAX_ENTRIES = 1000
_UID = re.compile(r"^([0-9A-Za-z:.\-]{1,20}?)(?:_(\d{1,2}))?$")
_GID = re.compile(r"^[0-9A-Za-z:.\-_]{0,20}$")
_EXPIRY = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class CsvProblem:
    line: int  # 1-based line number in the file (the header is line 1)
    reason: str


@dataclass
class ParsedCsv:
    entries: list[WhitelistEntry] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)
    lines: int = 0  # lines processed, header included (the manuals' "Processed: N")


def parse_uid(text: str) -> tuple[str, int | None] | None:
    """(uid, connector) of a UID with an optional ``_<connector>`` suffix, or None."""
    match = _UID.match(text)
    if match is None:
        return None
    connector = int(match.group(2)) if match.group(2) else None
    if connector == 0:
        return None
    return match.group(1), connector


def parse_expiry(text: str) -> str | None:
    """The stored form of an expiry (``YYYY-MM-DDTHH:MM:SSZ``); ValueError if malformed."""
    if not text:
        return None
    value = datetime.strptime(text.removesuffix("Z"), _EXPIRY)
    return value.strftime(_EXPIRY) + "Z"


def parse_csv(data: bytes | str, max_connector: int) -> ParsedCsv:
    """Every card of the file, or the problems (line number and reason) when it has any."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ParsedCsv(problems=[CsvProblem(1, "the file is not UTF-8 text")])
    else:
        text = data
    result = ParsedCsv()
    rows = list(csv.reader(io.StringIO(text)))
    result.lines = len(rows)
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        result.problems.append(CsvProblem(1, f"the first line must be {','.join(HEADER)}"))
        return result
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        if len(row) != 4:
            result.problems.append(CsvProblem(number, f"{len(row)} fields, expected 4"))
            continue
        uid_text, gid, expiry_text, authorization = (c.strip() for c in row)
        parsed = parse_uid(uid_text)
        if parsed is None:
            result.problems.append(
                CsvProblem(number, f"UID {uid_text!r}: 1 to 20 letters or digits (+ _connector)")
            )
            continue
        uid, connector = parsed
        if connector is not None and connector > max_connector:
            result.problems.append(CsvProblem(number, f"connector {connector} does not exist"))
            continue
        if not _GID.match(gid):
            result.problems.append(CsvProblem(number, f"GID {gid!r}: at most 20 letters or digits"))
            continue
        try:
            expiry = parse_expiry(expiry_text)
        except ValueError:
            result.problems.append(
                CsvProblem(number, f"Expiry {expiry_text!r}: expected YYYY-MM-DDTHH:MM:SS")
            )
            continue
        status = authorization.lower()
        if status not in ("accepted", "blocked"):
            result.problems.append(
                CsvProblem(number, f"Authorization {authorization!r}: accepted or blocked")
            )
            continue
        key = uid.casefold()
        if key in seen:
            result.problems.append(CsvProblem(number, f"UID {uid} repeats line {seen[key]}"))
            continue
        seen[key] = number
        result.entries.append(
            WhitelistEntry(
                uid=uid,
                authorization="Accepted" if status == "accepted" else "Blocked",
                gid=gid or None,
                expiry=expiry,
                connector_id=connector,
            )
        )
    if len(result.entries) > MAX_ENTRIES:
        result.problems.append(
            CsvProblem(len(rows), f"{len(result.entries)} cards, at most {MAX_ENTRIES}")
        )
    return result


def export_csv(entries: list[WhitelistEntry]) -> str:
    """The cards in the import format (deleted cards are not exported)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for e in entries:
        if e.deleted:
            continue
        uid = e.uid if e.connector_id is None else f"{e.uid}_{e.connector_id}"
        expiry = (e.expiry or "").removesuffix("Z")
        writer.writerow([uid, e.gid or "", expiry, e.authorization.lower()])
    return out.getvalue()
