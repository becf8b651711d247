"""`python -m reporter`: the same report pipeline from a shell."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError

from . import fields
from .deadline import Deadline
from .errors import ReporterError
from .pipeline import Fetch, delivery_log, fetch_through_extractor, publish_to_topic, run_report
from .report import to_document
from .settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
# The whole run's limit from a shell; each remote call still has its own cap (pipeline.py).
CLI_TIMEOUT_S = 300.0
PROG = "python -m reporter"
T = TypeVar("T")
# The argparse errors whose text holds nothing but this command's own option names.
_OWN_WORDS = re.compile(
    r"argument (?P<name>[-/a-z]+): (?P<problem>expected (?:one|[0-9]+) arguments?|"
    r"not allowed with argument [-/a-z]+)"
)
_TAKES_NO_VALUE = re.compile(r"argument (?P<name>[-/a-z]+): ignored explicit argument ")
_NOT_SHOWN = "what was typed is not shown, as it may hold a password"


class UsageError(ReporterError):
    """A command-line argument is malformed."""


class _Parser(argparse.ArgumentParser):
    """argparse, minus its habit of quoting what was typed in its errors: a mistyped option
    (`--dburl mysql://cafe:SECRET@host/db`) printed the whole URL, password included."""

    def error(self, message: str) -> NoReturn:
        own = _OWN_WORDS.fullmatch(message)
        if own:
            raise UsageError(f"{own['name']}: {own['problem']}")
        no_value = _TAKES_NO_VALUE.match(message)
        if no_value:
            raise UsageError(f"{no_value['name']} takes no value ({_NOT_SHOWN})")
        raise UsageError(f"the command line is malformed ({_NOT_SHOWN})")


def parser() -> argparse.ArgumentParser:
    # No abbreviations: `--d=...` made argparse quote the value, and an abbreviation that
    # works today would change meaning when an option is added.
    p = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description=(
            "Build the café's daily sales report and publish it to the SNS topic (topicARN), "
            "as the salesAnalysisReport Lambda does. Settings come from the same environment "
            "variables: topicARN, EXTRACTOR_FUNCTION_NAME, SSM_PREFIX, REPORT_TIMEZONE, and "
            "DELIVERY_TABLE (optional here: with it, a day already sent is not sent again)."
        ),
        epilog=(
            "examples:\n"
            "  python -m reporter --dry-run                      # today, via SSM and Lambda\n"
            "  python -m reporter --date 2026-11-26 --db-url mysql://root:@127.0.0.1:3306/cafe"
            " --dry-run\n"
            "exit status: 0 done, 1 the report failed (the reason is on stderr), 2 bad usage"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the day to report (default: today)")
    p.add_argument(
        "--db-url",
        metavar="URL",
        help="mysql://user[:password]@host[:port]/database: query the database in-process "
        "instead of reading SSM and invoking the extractor (password from MYSQL_PWD if absent)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the report, publish nothing")
    p.add_argument(
        "--resend",
        action="store_true",
        help="publish even if the day was sent already (recorded in DELIVERY_TABLE when set)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="with --dry-run, print the JSON variant instead (an error without --dry-run)",
    )
    p.add_argument("--timezone", metavar="ZONE", help="IANA zone (default: REPORT_TIMEZONE)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    return p


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line, or UsageError; no message quotes what was typed."""
    p = parser()
    args, unknown = p.parse_known_args(argv)
    if unknown:
        raise UsageError(_unknown(unknown, p))
    if args.json and not args.dry_run:
        raise UsageError(
            "--json goes with --dry-run (it prints the JSON variant instead of the email "
            "text); a publishing run prints one line saying what was sent"
        )
    return args


def _unknown(tokens: Sequence[str], p: argparse.ArgumentParser) -> str:
    options = [o for action in p._actions for o in action.option_strings]
    typed = [t.split("=", 1)[0] for t in tokens if t.startswith("-")]
    guesses = [g for t in typed for g in difflib.get_close_matches(t, options, n=1)]
    hint = f"; did you mean {guesses[0]}?" if guesses else ""
    what = "an option" if typed else "an argument"
    return f"{what} this command does not know ({_NOT_SHOWN}){hint}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the CLI; return the exit status. Never a traceback: every failure is one message."""
    env = os.environ if env is None else env
    try:
        args = parse_arguments(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )
        # Every argument is checked before the settings, so usage errors come first (exit 2).
        requested = _checked("--date", fields.day, args.date) if args.date is not None else None
        connection = db_event(args.db_url, env) if args.db_url is not None else None
        settings = _settings(args, env)
        day = _day(requested, settings.timezone)
        deadline = Deadline.after(CLI_TIMEOUT_S)
        if connection:
            fetch = fetch_in_process(connection)
        else:
            fetch = fetch_through_extractor(settings, deadline)
        publish = delivery = None
        if not args.dry_run:
            publish = publish_to_topic(settings, deadline)
            delivery = delivery_log(settings, deadline, owner=f"cli-{uuid.uuid4()}")
            if delivery is None:
                print(
                    f"{PROG}: note: DELIVERY_TABLE is not set, so this send is not checked "
                    "against earlier sends of the day, nor recorded",
                    file=sys.stderr,
                )
        outcome = run_report(
            day, settings.timezone.key, fetch, publish, delivery=delivery, resend=args.resend
        )
    except UsageError as exc:
        print(f"{parser().format_usage()}{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BotoCoreError as exc:  # e.g. no region or no credentials, before any call is made
        print(f"error: AWS: {exc} (configure the AWS CLI or set AWS_REGION)", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: nothing more was done", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.message is None:
        summary = outcome.summary()
        print(
            f"the report for {summary['reportDate']} was sent already, as SNS message "
            f"{summary['messageId']} at {summary['sentAt']}: not sent again (--resend sends it)"
        )
    elif args.dry_run:
        if args.json:
            assert outcome.report is not None  # a dry run always builds the report
            print(json.dumps(to_document(outcome.report, text=outcome.message.text), indent=2))
        else:
            print(outcome.message.text, end="")
    else:
        summary = outcome.summary()
        print(
            f"published the report for {summary['reportDate']} ({summary['products']} products)"
            f" as SNS message {summary['messageId']}"
        )
    return EXIT_OK


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    if args.timezone is not None:
        _checked("--timezone", fields.zone, args.timezone)
    overrides = {"REPORT_TIMEZONE": args.timezone} if args.timezone else {}
    return Settings.from_env({**env, **overrides}, need_topic=not args.dry_run)


def _day(requested: date | None, tz: ZoneInfo) -> date:
    today = datetime.now(tz).date()
    if requested is None:
        return today
    if requested > today:
        raise UsageError(f"--date {requested} is in the future (today is {today} in {tz.key})")
    return requested


def _checked(option: str, parse: Callable[[object], T], raw: object) -> T:
    try:
        return parse(raw)
    except fields.Malformed as exc:
        raise UsageError(f"{option} {exc}") from exc


_URL_FORM = "--db-url must look like mysql://user[:password]@host[:port]/database"


def db_event(url: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Turn a mysql:// URL into the extractor's event fields, as strictly as the extractor would.

    No error shows any part of the URL: it holds the password, and a mistyped URL (a '/' in the
    password, say) can put the password where the host should be.
    """
    try:
        parts = urlsplit(url)
        hostport = parts.netloc.rpartition("@")[2]
        username, password = parts.username, parts.password
    except ValueError:  # e.g. an unclosed '[' of an IPv6 address
        raise UsageError(_URL_FORM) from None
    database = parts.path[1:]
    if parts.scheme not in ("mysql", "mariadb") or not hostport or parts.query or parts.fragment:
        raise UsageError(_URL_FORM)
    if not database or "/" in database:
        raise UsageError(f"{_URL_FORM}: it names no database, or its path has more than one part")
    if not username:
        raise UsageError(f"{_URL_FORM}: it has no user name")
    try:
        host, port = fields.host(hostport)
    except fields.Malformed:
        raise UsageError(
            "--db-url's host must be a DNS name (dot-separated labels of 1 to 63 ASCII letters, "
            "digits, '-' or '_'; at most 253 characters) or an IP address ([...] for IPv6), and "
            f"its port, if given, a number from 1 to 65535 ({_NOT_SHOWN})"
        ) from None
    user = _url_part(username, fields.user_name, "user name", fields.MAX_USER_NAME)
    name = _url_part(database, fields.database_name, "database name", fields.MAX_DATABASE_NAME)
    if password is None:
        password, source = env.get("MYSQL_PWD", ""), "MYSQL_PWD"
    else:
        password, source = _unquoted(password), "--db-url's password"
    try:
        fields.password(password)
    except fields.Malformed as exc:
        raise UsageError(f"{source} {exc}") from None
    event: dict[str, Any] = {"dbUrl": host, "dbName": name, "dbUser": user, "dbPassword": password}
    if port is not None:
        event["dbPort"] = port
    return event


def _url_part(raw: str, parse: Callable[[object], str], what: str, limit: int) -> str:
    try:
        return parse(_unquoted(raw))
    except fields.Malformed:
        raise UsageError(
            f"--db-url's {what} must be 1 to {limit} characters (MySQL's limit), none of them "
            f"NUL or beyond U+FFFF ({_NOT_SHOWN})"
        ) from None


def _unquoted(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:  # not chained: the error quotes the bytes
        raise UsageError(
            f"--db-url has a %-escape that is not UTF-8 in its user, password or database "
            f"({_NOT_SHOWN})"
        ) from None


def fetch_in_process(connection: Mapping[str, Any]) -> Fetch:
    """Rows straight from the database, through the extractor's own code (no AWS involved).

    `connection` is db_event()'s answer: the extractor's event without the day.
    """
    try:
        from extractor.errors import ExtractorError
        from extractor.event import parse_event
        from extractor.sales import extract_sales
    except ImportError as exc:  # the reporter image does not ship the extractor
        raise UsageError("--db-url needs the extractor package: run from a checkout") from exc

    def fetch(day: date, timezone: str) -> list[dict[str, Any]]:
        event = {**connection, "reportDate": day.isoformat(), "timezone": timezone}
        try:
            return extract_sales(parse_event(event))
        except ExtractorError as exc:
            raise ReporterError(str(exc)) from exc

    return fetch
