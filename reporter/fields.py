"""Strict formats for the values the functions accept, and a bounded way to show a bad one.

Each function's package holds its own copy of this module (extractor/fields.py and
reporter/fields.py), on purpose: the two images share no code at run time. The copies are
identical; tests/unit/test_fields.py fails when they drift apart.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHOWN_CHARS = 40  # of a bad value in a message: enough to recognise it, never a flood
MESSAGE_CHARS = 1000  # of a message from elsewhere (another function's error) in ours
# The café days whose window (local midnight to midnight, as UTC bounds) `datetime` can hold in
# every time zone: the calendar's first and last days are less than a UTC offset from its edge.
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)
MAX_DATABASE_NAME = 64  # MySQL's limit for an identifier, in characters
MAX_USER_NAME = 32  # MySQL 8's limit for a user name, in characters
MAX_HOST_NAME = 253  # DNS's limit for a name, in characters
MAX_ZONE_NAME = 64  # the longest IANA name is about half that
# [0-9] rather than \d, which matches the digits of every script ("٣٣٠٦"), and int() not all.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_BRACKETED = re.compile(r"\[([^\]]*)\](?::(.*))?")
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
# MySQL's --ssl-mode values, weakest first.
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
MAX_PATH = 4096  # Linux's PATH_MAX
_PATH = re.compile(r"/[ -~]*")  # absolute, printable ASCII


class Malformed(ValueError):
    """A value is not in its strict format; the message says what is allowed."""


def show(value: object) -> str:
    """`value` for an error message, bounded: a long string cut, with its length said."""
    if isinstance(value, str):
        if len(value) <= SHOWN_CHARS:
            return repr(value)
        return f"{value[:SHOWN_CHARS]!r}… ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN_CHARS:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return "a JSON array"
    return f"a value of type {type(value).__name__}"


def cut(message: str) -> str:
    """A message from elsewhere (another function's error), cut to MESSAGE_CHARS."""
    if len(message) <= MESSAGE_CHARS:
        return message
    return f"{message[:MESSAGE_CHARS]}… (cut: {len(message)} characters in all)"


def text(raw: object) -> str:
    """A non-empty string, stripped of surrounding white space."""
    if not isinstance(raw, str) or not raw.strip():
        raise Malformed(f"is required and must be a non-empty string, got {show(raw)}")
    return raw.strip()


def day(raw: object) -> date:
    """A date as YYYY-MM-DD (ASCII digits), from FIRST_DAY to LAST_DAY."""
    if not isinstance(raw, str) or not _DAY.fullmatch(raw):
        raise Malformed(f"must be a date as YYYY-MM-DD, got {show(raw)}")
    try:
        parsed = date.fromisoformat(raw)
    except ValueError as exc:
        raise Malformed(f"is not a real calendar date: {show(raw)}") from exc
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise Malformed(f"must be a day from {FIRST_DAY} to {LAST_DAY}, got {show(raw)}")
    return parsed


def port(raw: object) -> int:
    """A TCP port from 1 to 65535: an integer (not a boolean) or a string of ASCII digits."""
    value = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _PORT.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None or not 1 <= value <= 65535:
        raise Malformed(f"must be a port number from 1 to 65535 (ASCII digits), got {show(raw)}")
    return value


def host(raw: object) -> tuple[str, int | None]:
    """A database host, alone or as host:port; return (host, port or None).

    The host is a DNS name (ASCII: an internationalised name in its xn-- form), an IPv4 address
    or an IPv6 address ([...] when a port follows).
    """
    value = text(raw)
    if "://" in value or "/" in value:
        raise Malformed(
            "must be the database host name (e.g. the RDS endpoint "
            "mydb.abc123.us-east-1.rds.amazonaws.com), without a scheme or path, "
            f"got {show(value)}"
        )
    name, port_text = value, None
    bracketed = _BRACKETED.fullmatch(value)
    if bracketed:
        name, port_text = bracketed.groups()
    elif value.count(":") == 1:  # "host:port", as some consoles show the endpoint
        name, port_text = value.split(":")
    found_port = None
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise Malformed(
                f"has a port after ':' that is not a number from 1 to 65535: {show(value)}"
            )
        found_port = int(port_text)
    if ":" in name or bracketed:
        try:
            ipaddress.IPv6Address(name)
        except ValueError as exc:
            raise Malformed(f"is not a valid IPv6 address: {show(value)}") from exc
    elif not _is_dns_name(name):
        raise Malformed(
            "must be a host name: ASCII letters, digits, '-' and '_' in dot-separated labels "
            f"of 1 to 63 characters, at most {MAX_HOST_NAME} in all (an internationalised name "
            f"in its xn-- form), or an IP address; got {show(value)}"
        )
    return name, found_port


def _is_dns_name(name: str) -> bool:
    labels = name.removesuffix(".").split(".")
    return (
        len(name) <= MAX_HOST_NAME
        and name.isascii()
        and all(_LABEL.fullmatch(label) for label in labels)
    )


def database_name(raw: object) -> str:
    """A MySQL database name: at most 64 characters, none of them NUL or beyond U+FFFF."""
    return _identifier(raw, MAX_DATABASE_NAME, "a database name")


def user_name(raw: object) -> str:
    """A MySQL user name: at most 32 characters, none of them NUL or beyond U+FFFF."""
    return _identifier(raw, MAX_USER_NAME, "a user name")


def _identifier(raw: object, limit: int, what: str) -> str:
    value = text(raw)
    if len(value) > limit:
        raise Malformed(
            f"must be at most {limit} characters (MySQL's limit for {what}), got {show(value)}"
        )
    if "\0" in value or (not value.isascii() and any(map(_not_in_identifiers, value))):
        raise Malformed(
            "may not hold NUL, characters beyond U+FFFF or lone surrogates (MySQL identifiers "
            f"cannot), got {show(value)}"
        )
    return value


def _not_in_identifiers(char: str) -> bool:
    return char > "\uffff" or "\ud800" <= char <= "\udfff"


def password(raw: object) -> str:
    """A password the connection can send: PyMySQL sends it as Latin-1.

    Its messages never show the password: not its characters, their positions or its length.
    """
    if not isinstance(raw, str):
        raise Malformed("is required and must be a string")
    try:
        raw.encode("latin-1")
    except UnicodeEncodeError:
        # Not chained: the UnicodeEncodeError names a character of the password and its position.
        raise Malformed(
            "has characters the database connection cannot send (the password is sent as "
            "Latin-1): give the database user a password of Latin-1 characters, e.g. ASCII "
            "letters, digits and punctuation"
        ) from None
    return raw


def zone(raw: object) -> ZoneInfo:
    """An IANA time zone, by name (e.g. Europe/Paris, UTC)."""
    if not isinstance(raw, str) or len(raw) > MAX_ZONE_NAME or not _ZONE.fullmatch(raw):
        raise Malformed(
            f"must be an IANA time zone name (e.g. Europe/Paris or UTC), got {show(raw)}"
        )
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise Malformed(
            f"is not a known IANA time zone name (e.g. Europe/Paris or UTC): {show(raw)}"
        ) from exc


def ssl_mode(raw: object) -> str:
    """One of MySQL's --ssl-mode values (SSL_MODES; any case, '-' for '_')."""
    if isinstance(raw, str) and len(raw) <= 20:
        mode = raw.strip().upper().replace("-", "_")
        if mode in SSL_MODES:
            return mode
    raise Malformed(f"must be one of {', '.join(SSL_MODES)} (MySQL's --ssl-mode), got {show(raw)}")


def ca_path(raw: object) -> str:
    """An absolute path (printable ASCII) to a PEM bundle of CA certificates in the image."""
    if not isinstance(raw, str) or len(raw) > MAX_PATH or not _PATH.fullmatch(raw):
        raise Malformed(
            "must be the absolute path of a PEM file of CA certificates in the extractor's "
            f"image (e.g. /var/task/certs/rds-global-bundle.pem), got {show(raw)}"
        )
    return raw
