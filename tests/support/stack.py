"""The whole reporter stack for one test: database, moto (SSM, SNS, SQS, DynamoDB), extractor.

No stand-ins in the path but the Runtime-API harness: both functions are real
`python -m awslambdaric` processes, the reporter reaches moto's server over HTTP, the extractor
the real database. What was published is read back from an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from support.aws import Inbox, aws_client
from support.database import Server, reader_user
from support.runtime_api import Invocation, LambdaProcess
from support.ssm import db_settings, put_db_parameters, reporter_env

EXTRACTOR = "extractor.handler.lambda_handler"
REPORTER = "reporter.handler.lambda_handler"
# The template's defaults keep ReporterTimeout >= ExtractorTimeout + 15 (infra/template.yaml):
# the reporter's own calls and margins need that much besides waiting for the extractor.
REPORTER_OWN_BUDGET_S = 15.0


@dataclass
class Stack:
    """Everything one reporter invocation needs, created for one test and removed after it."""

    server: Server
    moto: str
    database: str
    user: str
    password: str
    prefix: str
    inbox: Inbox
    extractor: LambdaProcess

    def put_parameters(self, **overrides: str | None) -> None:
        """Store the /<prefix>/db* parameters (None leaves one out), the password encrypted."""
        settings = db_settings(self.server, self.database, self.user, self.password)
        put_db_parameters(self.moto, self.prefix, {**settings, **overrides})

    def reporter_env(self, **overrides: str) -> dict[str, str]:
        """The reporter's environment: settings only, endpoints by the standard variables."""
        env = reporter_env(
            self.moto, self.extractor.endpoint_url, self.prefix, self.inbox.topic_arn
        )
        return {**env, **overrides}

    def reporter(self, timeout: float | None = None, **env: str) -> LambdaProcess:
        """A reporter runtime (not started: use it in a `with` block)."""
        if timeout is None:
            timeout = self.extractor.timeout + REPORTER_OWN_BUDGET_S
        return LambdaProcess(REPORTER, env=self.reporter_env(**env), timeout=timeout)

    def run_reporter(
        self, event: Any, *, timeout: float | None = None, **env: str
    ) -> tuple[Invocation, str]:
        """Invoke the reporter once in a fresh runtime; return the answer and its output."""
        with self.reporter(timeout, **env) as reporter:
            reporter.wait_ready()
            invocation = reporter.invoke(event)
            return invocation, reporter.output()

    def delivery_record(self, day: str) -> dict[str, Any] | None:
        """The delivery table's record of `day` for this stack's topic, as DynamoDB holds it."""
        response = aws_client("dynamodb", self.moto).get_item(
            TableName=self.inbox.delivery_table,
            Key={"id": {"S": f"{self.inbox.topic_arn}#{day}"}},
            ConsistentRead=True,
        )
        return response.get("Item")

    def published(self, wait: float = 1.0) -> list[dict[str, Any]]:
        """The JSON documents published so far (from the inbox queue)."""
        return [json.loads(e["Message"]) for e in self.inbox.messages(wait=wait)]

    def assert_no_secret(self, *texts: str) -> None:
        for text in (*texts, self.extractor.output()):
            assert self.password not in text


@contextlib.contextmanager
def stack_for(
    server: Server, database: str, moto: str, extractor: LambdaProcess
) -> Iterator[Stack]:
    """A Stack on `database` with a reader user, its own SSM prefix and inbox."""
    with reader_user(server, database) as (user, password), Inbox.create(moto) as inbox:
        prefix = f"/cafe-test-{uuid.uuid4().hex[:10]}"
        stack = Stack(server, moto, database, user, password, prefix, inbox, extractor)
        stack.put_parameters()
        yield stack
