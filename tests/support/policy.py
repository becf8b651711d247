"""The deployer's IAM policy (infra/deployer-policy.json) against what deploy.sh and the stack need.

Which IAM actions an AWS CLI call needs is the operation's name for almost every call; the few
commands that are not one API operation (`deploy`, `wait`, `get-login-password`) are spelled out.
What CloudFormation does with the deployer's credentials comes from the resource types' own
schemas (their handlers' permission lists, as cfn-lint ships them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from support.deploy import DEPLOY_SH, DEPLOYER_POLICY

# Commands of the AWS CLI that are not a single API operation, and calls that need no permission.
_COMMANDS = {
    ("cloudformation", "deploy"): (
        "cloudformation:DescribeStacks",
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:ExecuteChangeSet",
    ),
    ("cloudformation", "wait"): ("cloudformation:DescribeStacks",),
    ("lambda", "wait"): ("lambda:GetFunction",),
    ("lambda", "invoke"): ("lambda:InvokeFunction",),
    ("ecr", "get-login-password"): ("ecr:GetAuthorizationToken",),
    ("sts", "get-caller-identity"): (),  # allowed to every principal, whatever its policies
    ("configure", "get"): (),  # reads the local configuration
}
# What `docker push` asks of ECR (the stand-in docker in the tests calls only PutImage).
DOCKER_PUSH_ACTIONS = frozenset(
    {
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    }
)
# Lambda's CreateFunction and UpdateFunctionCode read the image with the caller's permissions.
IMAGE_READ_ACTIONS = frozenset({"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"})


def cli_actions(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions `aws SERVICE OPERATION` needs."""
    if (service, operation) in _COMMANDS:
        return _COMMANDS[(service, operation)]
    name = "".join(part.capitalize() for part in operation.split("-"))
    return (f"{service}:{name}",)


# Where a command starts in deploy.sh (advice in messages, "run 'aws sso login'", does not).
_CALL = re.compile(
    r"(?:^[ \t]*|\$\(|background \S+ |stack_tag |! |AWS_MAX_ATTEMPTS=1 )"
    r"aws ([a-z0-9]+) ([a-z0-9-]+)",
    re.MULTILINE,
)


def deploy_sh_calls() -> set[tuple[str, str]]:
    """Every `aws SERVICE OPERATION` command deploy.sh runs."""
    return set(_CALL.findall(DEPLOY_SH.read_text()))


@cache
def policy() -> dict[str, Any]:
    return json.loads(DEPLOYER_POLICY.read_text())


def policy_statements() -> Iterator[dict[str, Any]]:
    yield from policy()["Statement"]


def policy_actions() -> set[str]:
    actions: set[str] = set()
    for statement in policy_statements():
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def policy_allows(action: str) -> bool:
    """Whether some Allow statement names the action (resources and conditions aside)."""
    for statement in policy_statements():
        if statement["Effect"] != "Allow":
            continue
        patterns = statement["Action"]
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            regex = re.escape(pattern).replace(r"\*", ".*")
            if re.fullmatch(regex, action, re.IGNORECASE):
                return True
    return False


def handler_permissions(resource_type: str) -> set[str]:
    """What CloudFormation's handlers for the type may call: create, read, update, delete."""
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    schema = json.loads((schemas / "resources" / f"{index[resource_type]}.json").read_text())
    handlers = schema.get("handlers", {})
    return {
        permission
        for handler in ("create", "read", "update", "delete")
        for permission in handlers.get(handler, {}).get("permissions", [])
    }
