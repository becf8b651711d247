"""Powertools for AWS Lambda's idempotency utility against our own conditional writes.

Both guard one delivery per (topic, café day) in the same DynamoDB table (key `id`, TTL
attribute `expiration`), through the same botocore client (the reporter's, reporter/aws.py):

- ours (reporter/delivery.py): a consistent GetItem "check", a conditional UpdateItem "claim"
  and an UpdateItem "record"; a duplicate is answered by the GetItem alone.
- Powertools (`idempotent_function` with `data_keyword_argument`, `DynamoDBPersistenceLayer`):
  a conditional PutItem marks the key in progress (expiring with the Lambda context's remaining
  time), the function runs, an UpdateItem stores its result; a duplicate's PutItem fails and
  returns the stored item (ReturnValuesOnConditionCheckFailure), from which the result comes.

The publish itself is left out of both (it is the same SNS call): the function guarded returns
a made-up message id. Cold cost: fresh interpreters (bench/coldstart.py). Warm cost: this
module's `measure` runs in `python -m bench.probe idempotency`, against moto's server over HTTP.
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from bench.coldstart import Probe, import_probe
from bench.images import Runtime

POWERTOOLS_IMPORT = (
    "from aws_lambda_powertools.utilities.idempotency import (\n"
    "    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function)"
)
OURS_IMPORT = "import reporter.delivery"
# Both come after boto3, which the reporter imports anyway.
AFTER_BOTO3 = "import boto3\nimport botocore.exceptions"

# The DynamoDB requests each path must make (checked: a change in either shows up here).
OURS_FIRST = ("GetItem", "UpdateItem", "UpdateItem")
OURS_DUPLICATE = ("GetItem",)
POWERTOOLS_FIRST = ("PutItem", "UpdateItem")
POWERTOOLS_DUPLICATE = ("PutItem",)


def cold_probes(ours: Runtime, powertools: Runtime) -> list[Probe]:
    """Imports to time in fresh interpreters: each library after boto3, and Powertools on top
    of the reporter as it is now (what adopting it would add to the reporter's cold start)."""
    return [
        import_probe("idem_ours", "import reporter.delivery after boto3", OURS_IMPORT, ours,
                     pre=AFTER_BOTO3),
        import_probe("idem_powertools", "import Powertools' idempotency after boto3",
                     POWERTOOLS_IMPORT, powertools, pre=AFTER_BOTO3),
        import_probe("idem_powertools_over_reporter",
                     "import Powertools' idempotency after reporter.handler",
                     POWERTOOLS_IMPORT, powertools, pre="import reporter.handler"),
        import_probe("idem_boto3", "import boto3 (both need it)", AFTER_BOTO3, ours),
    ]  # fmt: skip


class _Context:
    """The two things of Lambda's context that both paths read: the request id (our claim's
    owner) and the time left (our deadline; Powertools' in-progress expiry)."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._until = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._until - time.monotonic()) * 1000))


class _Requests:
    """The DynamoDB requests a client makes, each with its time from send to parsed answer."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, float]] = []
        self._started = 0.0
        client.meta.events.register("before-send.dynamodb", self._send)
        client.meta.events.register("after-call.dynamodb", self._answered)

    def _send(self, **kwargs: Any) -> None:  # returns None: the request goes on
        self._started = time.perf_counter()

    def _answered(self, event_name: str, **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.sent.append((operation, (time.perf_counter() - self._started) * 1000))

    def take(self) -> list[tuple[str, float]]:
        sent, self.sent = self.sent, []
        return sent


def _ours(client: Any, table: str, topic_arn: str) -> tuple[Callable, Callable]:
    from reporter.deadline import Deadline
    from reporter.delivery import CALL_CAP_S, Claim, DeliveryLog
    from reporter.pipeline import PUBLISH_CAP_S

    def log(context: _Context) -> DeliveryLog:
        deadline = Deadline.from_context(context)
        return DeliveryLog(client, table, topic_arn, context.aws_request_id, deadline)

    def first(day: date, message_id: str) -> str:
        """The pipeline's calls for a day not sent yet: check, claim, (publish), record."""
        delivery = log(_Context())
        if delivery.sent(day) is not None:
            raise RuntimeError(f"ours: {day} was sent already")
        claim = delivery.claim(day, resend=False, hold=PUBLISH_CAP_S + CALL_CAP_S)
        if not isinstance(claim, Claim):
            raise RuntimeError(f"ours: the claim on {day} was lost")
        delivery.record_sent(claim, message_id)
        return message_id

    def duplicate(day: date) -> str:
        previous = log(_Context()).sent(day)
        if previous is None:
            raise RuntimeError(f"ours: {day} has no delivery record")
        return previous.message_id

    return first, duplicate


def _powertools(client: Any, table: str, topic_arn: str) -> tuple[Callable, Callable, Callable]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    from reporter.delivery import RETENTION_DAYS

    persistence = DynamoDBPersistenceLayer(
        table_name=table, key_attr="id", expiry_attr="expiration", boto3_client=client
    )
    config = IdempotencyConfig(expires_after_seconds=RETENTION_DAYS * 86400)
    publishing: list[str] = []  # the message id the guarded function "publishes"
    meanwhile: list[Callable[[], None]] = []  # runs inside it: another run arriving then

    @idempotent_function(
        data_keyword_argument="delivery",
        persistence_store=persistence,
        config=config,
        key_prefix="cafe-report",
    )
    def deliver(*, delivery: dict[str, str]) -> dict[str, str]:
        for other_run in meanwhile:
            other_run()
        return {"messageId": publishing.pop()}  # where the publish would be

    def call(day: date) -> str:
        config.register_lambda_context(_Context())
        return deliver(delivery={"topic": topic_arn, "day": day.isoformat()})["messageId"]

    def first(day: date, message_id: str) -> str:
        publishing.append(message_id)
        return call(day)

    def overlap() -> str:
        """What a second run for the same day gets while the first one is still running."""
        outcome: list[str] = []

        def second_run() -> None:
            try:
                call(date(1999, 12, 31))
                outcome.append("ran the function again")
            except IdempotencyAlreadyInProgressError as exc:
                outcome.append(type(exc).__name__)

        meanwhile.append(second_run)
        try:
            first(date(1999, 12, 31), "first-run")
        finally:
            meanwhile.clear()
        return outcome[0]

    return first, call, overlap


def measure(table: str, topic_arn: str, times: int) -> dict[str, Any]:
    """Interleaved rounds: per round a new day for each, its first delivery, then a duplicate.

    The client is the reporter's (reporter.aws.client, endpoint from AWS_ENDPOINT_URL_DYNAMODB).
    One round first as a warm-up (connections, the models' first use).
    """
    from reporter import aws

    client = aws.client("dynamodb")
    requests = _Requests(client)
    ours_first, ours_dup = _ours(client, table, topic_arn)
    pt_first, pt_dup, pt_overlap = _powertools(client, table, topic_arn)
    variants = {"ours": (ours_first, ours_dup), "powertools": (pt_first, pt_dup)}
    samples: dict[str, dict[str, list[float]]] = {
        name: {"first": [], "duplicate": [], "first_cpu": [], "duplicate_cpu": []}
        for name in variants
    }
    # (operation, ms) of each request, per path, round by round.
    calls: dict[str, dict[str, list[list[tuple[str, float]]]]] = {
        name: {"first": [], "duplicate": []} for name in variants
    }
    same_id = {name: True for name in variants}
    days = (date(2000, 1, 1) + timedelta(days=n) for n in itertools.count())
    for index in range(times + 1):
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        for name in order:
            first, duplicate = variants[name]
            day, message_id = next(days), str(uuid.uuid4())
            requests.take()
            with _timed() as first_ms:
                got = first(day, message_id)
            first_calls = requests.take()
            with _timed() as duplicate_ms:
                again = duplicate(day)
            duplicate_calls = requests.take()
            same_id[name] &= got == again == message_id
            if index:  # the first round is the warm-up
                for kind, timed, sent in (
                    ("first", first_ms, first_calls),
                    ("duplicate", duplicate_ms, duplicate_calls),
                ):
                    samples[name][kind].append(timed["wall"])
                    samples[name][f"{kind}_cpu"].append(timed["cpu"])
                    calls[name][kind].append(sent)
    result: dict[str, Any] = {"powertools_overlap": pt_overlap()}
    for name, by_kind in samples.items():
        result[name] = {"duplicate_returned_first_id": same_id[name]}
        for kind, ms in by_kind.items():
            result[name] |= {f"{kind}_median_ms": statistics.median(ms), f"{kind}_samples_ms": ms}
        for kind, rounds in calls[name].items():
            result[name] |= {
                f"{kind}_requests": sorted({tuple(op for op, _ in r) for r in rounds}),
                f"{kind}_request_ms": _median_per_request(rounds),
            }
    return result


@contextlib.contextmanager
def _timed() -> Iterator[dict[str, float]]:
    """Wall time and this process's CPU time of the block, in ms. The CPU time is the client's
    own work (serialising, signing, parsing; Powertools' hashing; our timers): moto runs in
    the bench's process, so it is not in it."""
    timed: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield timed
    timed["cpu"] = (time.process_time() - cpu) * 1000
    timed["wall"] = (time.perf_counter() - wall) * 1000


def _median_per_request(rounds: list[list[tuple[str, float]]]) -> list[list[Any]]:
    """[operation, median ms] for the 1st, 2nd, ... request of a path, over the rounds."""
    width = min(len(r) for r in rounds)
    return [[rounds[0][n][0], statistics.median(r[n][1] for r in rounds)] for n in range(width)]
