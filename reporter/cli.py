"""`python -m reporter`: the same report pipeline from a shell."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from .deadline import Deadline
from .errors import ReporterError, SettingsError
from .pipeline import (
    Fetch,
    delivery_log,
    fetch_through_extractor,
    publish_to_topic,
    run_report,
)
from .report import to_document
from .settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The whole run's limit from a shell; each remote call still has its own cap (pipeline.py).
CLI_TIMEOUT_S = 300.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reporter",
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
        "--json", action="store_true", help="with --dry-run, print the JSON variant instead"
    )
    p.add_argument("--timezone", metavar="ZONE", help="IANA zone (default: REPORT_TIMEZONE)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    return p


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    env = os.environ if env is None else env
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = _settings(args, env)
        day = _day(args.date, settings.timezone)
        deadline = Deadline.after(CLI_TIMEOUT_S)
        if args.db_url:
            fetch = fetch_in_process(args.db_url, env)
        else:
            fetch = fetch_through_extractor(settings, deadline)
        publish = delivery = None
        if not args.dry_run:
            publish = publish_to_topic(settings, deadline)
            delivery = delivery_log(settings, deadline, owner=f"cli-{uuid.uuid4()}")
            if delivery is None:
                print(
                    "python -m reporter: note: DELIVERY_TABLE is not set, so this send is not "
                    "checked against earlier sends of the day, nor recorded",
                    file=sys.stderr,
                )
        outcome = run_report(
            day, settings.timezone.key, fetch, publish, delivery=delivery, resend=args.resend
        )
    except UsageError as exc:
        print(f"python -m reporter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
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


class UsageError(ReporterError):
    """A command-line argument is malformed."""


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    overrides = {"REPORT_TIMEZONE": args.timezone} if args.timezone else {}
    try:
        return Settings.from_env({**env, **overrides}, need_topic=not args.dry_run)
    except SettingsError as exc:
        if args.timezone and exc.name == "REPORT_TIMEZONE":
            raise UsageError(f"--timezone {args.timezone!r} is not an IANA time zone") from exc
        raise


def _day(raw: str | None, tz: ZoneInfo) -> date:
    today = datetime.now(tz).date()
    if raw is None:
        return today
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise UsageError(f"--date {raw!r} is not a date as YYYY-MM-DD") from exc
    if day > today:
        raise UsageError(f"--date {raw} is in the future (today is {today} in {tz.key})")
    return day


def db_event(url: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Turn a mysql:// URL into the extractor's event fields. Errors never show the password."""
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname or not database:
        raise UsageError("--db-url must look like mysql://user[:password]@host[:port]/database")
    if not parts.username or port == -1:
        raise UsageError("--db-url needs a user name and, if given, a numeric port")
    password = unquote(parts.password) if parts.password is not None else env.get("MYSQL_PWD", "")
    event: dict[str, Any] = {
        "dbUrl": parts.hostname,
        "dbName": unquote(database),
        "dbUser": unquote(parts.username),
        "dbPassword": password,
    }
    if port:
        event["dbPort"] = port
    return event


def fetch_in_process(url: str, env: Mapping[str, str]) -> Fetch:
    """Rows straight from the database, through the extractor's own code (no AWS involved)."""
    connection = db_event(url, env)
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
