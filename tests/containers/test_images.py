"""The production images, run on the engine as Lambda runs them.

Lambda starts the image's entry point with AWS_LAMBDA_RUNTIME_API set, on a read-only root file
system, as a user of its own. Here the Runtime-API harness (tests/support/runtime_api.py) plays
Lambda on 127.0.0.1 and the container shares the host's network to reach it, the database and
moto's server. Python runs verbosely, so its log shows where each module came from: the
bytecode install.sh compiled into the image.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from containers.suite import FIGURES, TARGETS, Built
from support.aws import Inbox
from support.database import Server, extractor_event, reader_user
from support.engine import docker, docker_client, docker_env
from support.runtime_api import LambdaProcess
from support.ssm import db_parameters, put_db_parameters, reporter_env
from support.standins import PythonBase

# What the harness sets for the runtime and the container must get (not PATH, not the task
# root: the image's own).
LAMBDA_VARIABLES = (
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "_HANDLER",
    "TZ",
)
LAMBDA_USER = "993:990"  # any uid/gid the image does not define, as Lambda's own
HANDLERS = {
    "extractor": "extractor.handler.lambda_handler",
    "reporter": "reporter.handler.lambda_handler",
}


def in_container(image: str, function: str, env: dict[str, str] | None = None) -> LambdaProcess:
    """The image under the harness: `docker run` is the runtime's process."""
    env = {**(env or {}), "PYTHONVERBOSE": "1"}
    name = f"cafe-ctest-{function}-{uuid.uuid4().hex[:8]}"
    passed = [*LAMBDA_VARIABLES, *env]
    command = [
        docker_client(),
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",  # noqa: S108 (Lambda's writable /tmp, inside the container)
        "--user",
        LAMBDA_USER,
        *[arg for variable in passed for arg in ("-e", variable)],
        image,
    ]
    return LambdaProcess(
        HANDLERS[function], command=command, env=docker_env(env), function_error_header=True
    )


@pytest.fixture(scope="module")
def extractor(images: Built) -> Iterator[LambdaProcess]:
    with in_container(images.tags["extractor"], "extractor") as process:
        process.wait_ready(timeout=60)
        yield process


def loaded_from_bytecode(output: str, module_path: str) -> bool:
    """Whether Python's verbose log shows the module read from its __pycache__ .pyc."""
    pattern = rf"code object from '?/var/task/{re.escape(module_path)}/__pycache__/[^ ']+\.pyc"
    return re.search(pattern, output) is not None


@pytest.mark.parametrize("function", ["extractor", "reporter"])
def test_production_image_outside_lambda_says_so_and_exits_127(
    images: Built, function: str
) -> None:
    result = docker("run", "--rm", "--read-only", images.tags[function], check=False)
    assert result.returncode == 127, result.stderr
    assert "this is the production image" in result.stderr
    assert f"docker build -f docker/Dockerfile --target {function}-local ." in result.stderr
    [line] = result.stderr.splitlines()  # one clear line
    assert line.startswith("lambda-entrypoint: AWS_LAMBDA_RUNTIME_API is not set")


def test_production_extractor_answers_one_invocation(
    extractor: LambdaProcess, server: Server, cafe_db: str
) -> None:
    today = datetime.now(UTC).date()
    with reader_user(server, cafe_db) as (user, password):
        event = extractor_event(server, cafe_db, today, dbUser=user, dbPassword=password)
        # The image carries a CA bundle, so by default it insists on a verified certificate;
        # the test server has no TLS at all.
        refused = extractor.invoke(event)
        invocation = extractor.invoke({**event, "dbSslMode": "PREFERRED"})
    assert refused.payload["errorType"] == "DatabaseTlsError", refused.payload
    assert "does not offer TLS, and dbSslMode VERIFY_IDENTITY" in refused.payload["errorMessage"]
    assert invocation.function_error is None, invocation.payload
    assert invocation.payload["statusCode"] == 200
    assert invocation.payload["reportDate"] == today.isoformat()
    assert invocation.payload["body"], "db/seed.sql promises orders today"
    output = extractor.output()
    assert loaded_from_bytecode(output, "extractor"), output[-3000:]
    assert loaded_from_bytecode(output, "pymysql"), output[-3000:]
    assert password not in output


def test_production_reporter_publishes_once(
    images: Built, extractor: LambdaProcess, server: Server, cafe_db: str, moto_endpoint: str
) -> None:
    with (
        reader_user(server, cafe_db) as (user, password),
        db_parameters(moto_endpoint, server, cafe_db, user, password) as prefix,
        Inbox.create(moto_endpoint) as inbox,
    ):
        # The test server has no TLS: say so, as the local stack's hook does for its MySQL.
        put_db_parameters(moto_endpoint, prefix, {"dbSslMode": "PREFERRED"})
        env = reporter_env(moto_endpoint, extractor.endpoint_url, prefix, inbox.topic_arn)
        with in_container(images.tags["reporter"], "reporter", env) as reporter:
            reporter.wait_ready(timeout=60)
            invocation = reporter.invoke({})
            output = reporter.output()
        assert invocation.function_error is None, invocation.payload
        assert invocation.payload["statusCode"] == 200
        assert invocation.payload["products"] > 0
        [envelope] = inbox.messages(wait=2)
        assert envelope["MessageId"] == invocation.payload["messageId"]
    assert loaded_from_bytecode(output, "reporter"), output[-3000:]
    assert loaded_from_bytecode(output, "botocore"), output[-3000:]
    assert password not in output + extractor.output()


@pytest.mark.parametrize("target", TARGETS)
def test_dockerfile_builds_with_the_engines_buildkit(
    engine: str, checkout: Path, base: PythonBase, target: str
) -> None:
    # Engine 20.10's own BuildKit (DOCKER_BUILDKIT=1 with its client), whose builtin Dockerfile
    # frontend is the oldest the Dockerfile must parse; the classic builder built `images`.
    began = time.monotonic()
    docker(
        *("build", "--file", "docker/Dockerfile", "--target", target, *base.build_flags()),
        *("--tag", f"cafe-ctest/buildkit-{target}:latest", checkout),
        env={"DOCKER_BUILDKIT": "1"},
        timeout=1800,
    )
    FIGURES.add(f"build {target} (BuildKit): {time.monotonic() - began:.0f} s")


def test_extractor_image_carries_the_rds_ca_bundle_and_the_reporter_does_not(
    images: Built,
) -> None:
    def ls(tag: str) -> str:
        command = ["ls", "-ln", "/var/task/certs/rds-global-bundle.pem"]
        return docker(
            "run", "--rm", "--entrypoint", command[0], tag, *command[1:], check=False
        ).stdout

    listing = ls(images.tags["extractor"])
    assert listing.startswith("-rw-r--r-- 1 0 0 "), listing  # root's, readable by Lambda's user
    assert ls(images.tags["reporter"]) == ""
