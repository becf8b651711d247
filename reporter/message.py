"""The SNS message: email text plus JSON for machines, kept under SNS's size limit."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from json.encoder import encode_basestring

from .errors import ReporterError
from .report import FULL, SUMMARY, TOTALS, Report, TextParts, assemble, cut_note, text_parts
from .report import to_document as _document

SNS_MAX_BYTES = 262_144  # 256 KiB: the whole publish request's message and subject
SUBJECT = "Daily Sales Analysis Report"


@dataclass(frozen=True)
class SnsMessage:
    """What one `sns.publish(MessageStructure="json")` call sends."""

    subject: str
    structure: str  # {"default": <JSON document>, "email": <text>} as a JSON string
    text: str
    detail: str  # how much of the JSON document survived the limit: full, summary, totals
    items_shown: int
    items_total: int

    @property
    def size(self) -> int:
        return _size(self.structure, self.subject)


def subject_for(day: date) -> str:
    """The email subject: ASCII, one line, far under SNS's 100 characters."""
    return f"{SUBJECT} {day.isoformat()}"


def build_message(report: Report, *, max_bytes: int = SNS_MAX_BYTES) -> SnsMessage:
    """Build the largest message that fits in `max_bytes`, degrading step by step.

    1. full text, and JSON with every item and the text;
    2. full text, JSON with group subtotals only;
    3. text cut after as many items as fit (with a note saying so), JSON with totals only.
    Raises ReporterError if not even the cut report fits (it never should: that is a few lines).
    """
    subject = subject_for(report.day)
    parts = text_parts(report)
    text = assemble(parts)
    # The full variant carries the text twice (as "email" and inside "default"), the summary
    # once; JSON escaping only adds bytes. So a text this big rules them out before either is
    # built and serialised (at 10^4 products that is most of the formatting time).
    text_bytes = len(text.encode("utf-8"))
    for detail, copies in ((FULL, 2), (SUMMARY, 1)):
        if copies * text_bytes + len(subject) > max_bytes:
            continue
        document = _document(report, detail=detail, text=text)
        structure = _structure(document, text)
        if _size(structure, subject) <= max_bytes:
            return SnsMessage(subject, structure, text, detail, parts.items, parts.items)

    document = _document(report, detail=TOTALS)
    room = max_bytes - _size(_structure(document, ""), subject)
    shown = _items_that_fit(parts, text, room)
    text = assemble(parts, shown)
    structure = _structure(document, text)
    if shown < 0 or _size(structure, subject) > max_bytes:
        raise ReporterError(f"the report does not fit in {max_bytes} bytes even without items")
    return SnsMessage(subject, structure, text, TOTALS, shown, parts.items)


def _structure(document: dict, text: str) -> str:
    # Email subscribers get the text; every other protocol (SQS, Lambda, HTTP/S, email-json)
    # gets "default", the JSON document. One copy of each keeps the message small.
    inner = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return json.dumps({"default": inner, "email": text}, ensure_ascii=False)


def _size(structure: str, subject: str) -> int:
    return len(structure.encode("utf-8")) + len(subject.encode("utf-8"))


def _escaped_size(line: str) -> int:
    """Bytes `line` plus its newline add to the text once it is a JSON string."""
    return len(encode_basestring(line).encode("utf-8"))  # quotes (2) stand for the "\n" (2)


# What JSON escapes in a string (besides the newlines every line ends with).
_ESCAPED = re.compile(r'[\x00-\x09\x0b-\x1f"\\]')


def _items_that_fit(parts: TextParts, text: str, room: int) -> int:
    """The most item lines whose assembled text adds at most `room` bytes; -1 if none fit.

    Sizes are summed from the formatted lines of `text` (the whole report), so no candidate
    text is assembled twice.
    """
    fixed = sum(_escaped_size(line) for line in (*parts.header, *parts.footer))
    costs: list[int] = []  # what the k-th item adds, its group's heading and subtotal included
    # The usual report is ASCII with nothing to escape: a line's size is then its length plus
    # its newline, with no call per line (there can be 10^4 of them).
    plain = text.isascii() and _ESCAPED.search(text) is None
    for head, items, tail in parts.groups:
        sizes = [len(x) + 2 for x in items] if plain else [_escaped_size(x) for x in items]
        if sizes:
            sizes[0] += sum(_escaped_size(x) for x in (*head, *tail))
        costs += sizes
    added = [0, *accumulate(costs)]

    def needed(shown: int) -> int:
        hidden = parts.items - shown
        note = sum(_escaped_size(x) for x in cut_note(hidden)) if hidden else 0
        return fixed + added[shown] + note

    # needed() grows with `shown` (an item line outweighs a digit less in the note).
    return bisect_right(range(parts.items + 1), room, key=needed) - 1
