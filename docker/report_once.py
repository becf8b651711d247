"""The local stack's one-shot: invoke the reporter, then print the report as it was delivered.

Run by the compose service `report` (`docker compose run --rm report [--date YYYY-MM-DD]`) with the
reporter image's Python and boto3. It calls the reporter through its runtime interface emulator,
then reads the published message back from the SQS queue subscribed to the topic and prints the
report text that message carries; for a day sent already (the reporter keeps one delivery per
day) it says so, with the first message id, and `--resend` sends it again. Exit status: 0
printed, 1 failed (one line on stderr saying why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

EXIT_OK, EXIT_FAILED = 0, 1
DEFAULT_REPORTER_URL = "http://reporter:8080/2015-03-31/functions/function/invocations"
DEFAULT_QUEUE = "sales-report-inbox"
DEFAULT_TIMEOUT_S = 120.0
POLL_S = 0.5


class ReportFailed(Exception):
    """The run failed; the message is the one-line reason."""


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report_once.py",
        description="Invoke the local reporter and print the report as the inbox queue got it.",
    )
    p.add_argument("--date", metavar="YYYY-MM-DD", help="report this day (default: today)")
    p.add_argument(
        "--resend", action="store_true", help="send the day again even if it was sent already"
    )
    p.add_argument(
        "--reporter-url",
        default=env.get("REPORTER_URL", DEFAULT_REPORTER_URL),
        help="the reporter emulator's invoke URL (REPORTER_URL)",
    )
    p.add_argument(
        "--queue",
        default=env.get("INBOX_QUEUE_NAME", DEFAULT_QUEUE),
        help="the SQS queue subscribed to the topic (INBOX_QUEUE_NAME)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=float(env.get("REPORT_TIMEOUT", DEFAULT_TIMEOUT_S)),
        help="seconds for the whole run: reach the reporter, report, delivery (REPORT_TIMEOUT)",
    )
    return p


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run once; return the exit status."""
    env = os.environ if env is None else env
    args = parser(env).parse_args(argv)
    deadline = time.monotonic() + args.timeout
    event: dict[str, Any] = {"reportDate": args.date} if args.date else {}
    if args.resend:
        event["resend"] = True
    try:
        wait_until_listening(args.reporter_url, deadline, args.timeout)
        summary = invoke(args.reporter_url, event, deadline, args.timeout)
        if summary.get("delivery") == "already-sent":
            print(already_sent(summary), end="")
            return EXIT_OK
        envelope = delivered(args.queue, str(summary["messageId"]), deadline, args.timeout)
    except ReportFailed as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(render(summary, envelope, args.queue), end="")
    return EXIT_OK


def already_sent(summary: Mapping[str, Any]) -> str:
    """What a run for a day sent already says: nothing new was published."""
    return (
        f"The report for {summary.get('reportDate')} was already sent, as SNS message "
        f"{summary.get('messageId')} at {summary.get('sentAt')}: not sent again "
        "(`docker compose run --rm report --resend` sends it again)\n"
    )


def wait_until_listening(url: str, deadline: float, timeout: float) -> None:
    """Wait for the reporter's port to accept connections; only then is a POST safe to send once.

    A POST is never retried: a retry after a slow answer could publish the report twice.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReportFailed(f"--reporter-url {url!r} is not an http:// URL")
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    while True:
        try:
            socket.create_connection(address, timeout=max(0.1, deadline - time.monotonic())).close()
            return
        except OSError as exc:
            if time.monotonic() + POLL_S >= deadline:
                raise ReportFailed(
                    f"cannot reach the reporter at {address[0]}:{address[1]} within "
                    f"{timeout:g} s ({exc.strerror or exc}): is the reporter service running?"
                ) from exc
            time.sleep(POLL_S)


def invoke(url: str, event: dict[str, Any], deadline: float, timeout: float) -> dict[str, Any]:
    """POST the event once; return the reporter's result, or raise with its error message."""
    request = urllib.request.Request(  # noqa: S310 (the scheme was checked to be http(s))
        url, data=json.dumps(event).encode(), method="POST"
    )
    remaining = max(1.0, deadline - time.monotonic())
    try:
        with urllib.request.urlopen(request, timeout=remaining) as response:  # noqa: S310
            function_error = response.headers.get("X-Amz-Function-Error")
            raw = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", errors="replace")
        message = f"the reporter's emulator answered HTTP {exc.code}: {one_line(body)}"
        raise ReportFailed(message) from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReportFailed(f"no answer from the reporter within {timeout:g} s ({reason})") from exc
    result = parse_json(raw)
    # The emulator answers a failed invocation with 200 and no X-Amz-Function-Error header:
    # the error JSON in the body is the only sign.
    if isinstance(result, dict) and (function_error or "errorMessage" in result):
        kind = result.get("errorType") or "Error"
        raise ReportFailed(f"the reporter failed: {kind}: {one_line(result.get('errorMessage'))}")
    if not isinstance(result, dict) or not result.get("messageId"):
        answer = one_line(raw.decode("utf-8", errors="replace"))
        raise ReportFailed(f"the reporter answered without a messageId: {answer}")
    return result


def delivered(queue: str, message_id: str, deadline: float, timeout: float) -> dict[str, Any]:
    """Read the inbox until the SNS envelope of `message_id` arrives; delete and return it.

    Other messages (earlier runs, `curl`ed reports) are left in the queue.
    """
    sqs = boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 3}))
    try:
        queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        while True:
            wait = int(min(2, max(0, deadline - time.monotonic())))
            batch = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            )
            for message in batch.get("Messages", []):
                envelope = parse_json(message["Body"])
                if isinstance(envelope, dict) and envelope.get("MessageId") == message_id:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    return envelope
            if time.monotonic() >= deadline:
                raise ReportFailed(
                    f"the report (SNS message {message_id}) did not reach the queue {queue} "
                    f"within {timeout:g} s: is the queue subscribed to the topic?"
                )
            if not wait:
                time.sleep(POLL_S)
    except (ClientError, BotoCoreError) as exc:
        raise ReportFailed(f"cannot read the inbox queue {queue}: {one_line(str(exc))}") from exc


def render(summary: Mapping[str, Any], envelope: Mapping[str, Any], queue: str) -> str:
    """The report as delivered: who got what, then the text the message carries."""
    document = json.loads(envelope["Message"])  # SQS subscribers get the JSON variant
    detail = document.get("detail")
    cut = "" if detail == "full" else f", cut to fit SNS's size limit: {detail}"
    head = (
        f"Delivered to {queue}: SNS message {envelope['MessageId']}, "
        f"{summary.get('products')} products, revenue {summary.get('revenue')}{cut}\n"
        f"Subject: {envelope.get('Subject', '')}\n\n"
    )
    text = document.get("text")
    if text is None:  # cut to its totals to fit SNS's limit: email subscribers got the text
        return head + json.dumps(document.get("totals"), indent=2) + "\n"
    return head + text


def parse_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def one_line(value: object) -> str:
    return " ".join(str(value).split())


if __name__ == "__main__":
    sys.exit(main())
