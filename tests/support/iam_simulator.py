"""iam:SimulatePrincipalPolicy for moto's server, which lacks it: a stand-in added to moto's IAM
in this process (the server runs here), for deploy.sh's pre-flight checks of IAM roles.

How it differs from AWS's simulator: it evaluates only what IAM policies of this project's kind
use: Allow and Deny statements, Action or NotAction, Resource or NotResource, with the * and ?
wildcards, from the principal's inline and attached managed policies (a role's or a user's). A
statement with a Condition never matches (as in AWS's simulator when the request carries no
context keys). No permission boundaries, SCPs, resource policies or groups.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.iam.exceptions import InvalidInput
from moto.iam.responses import IamResponse

_PRINCIPAL = re.compile(r"^arn:[a-z-]+:iam::\d{12}:(role|user)/(?:.*/)?([^/]+)$")


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text),
        re.IGNORECASE | re.DOTALL,
    )


def _matches(patterns: str | Sequence[str], value: str) -> bool:
    values = [patterns] if isinstance(patterns, str) else list(patterns)
    return any(_pattern(p).fullmatch(value) for p in values)


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Condition" in statement:
        return False
    if "Action" in statement:
        action_ok = _matches(statement["Action"], action)
    else:
        action_ok = not _matches(statement.get("NotAction", []), action)
    if "Resource" in statement:
        resource_ok = _matches(statement["Resource"], resource)
    else:
        resource_ok = not _matches(statement.get("NotResource", []), resource)
    return action_ok and resource_ok


def decide(documents: Sequence[dict[str, Any]], action: str, resource: str) -> str:
    """AWS's decision for one action on one resource: allowed, explicitDeny or implicitDeny."""
    statements = [s for d in documents for s in _as_list(d.get("Statement", []))]
    applying = [s for s in statements if _applies(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return "explicitDeny"
    if any(s.get("Effect") == "Allow" for s in applying):
        return "allowed"
    return "implicitDeny"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    return json.loads(unquote(raw))


def _principal_documents(backend: Any, arn: str) -> list[dict[str, Any]]:
    found = _PRINCIPAL.match(arn)
    if not found:
        raise InvalidInput(f"Invalid ARN: {arn}: a role or user ARN is required")
    kind, name = found.groups()
    principal = backend.get_role(name) if kind == "role" else backend.get_user(name)
    documents = [_document(d) for d in principal.policies.values()]
    for policy in principal.managed_policies.values():
        documents += [_document(v.document) for v in policy.versions if v.is_default]
    return documents


def _simulate_principal_policy(self: IamResponse) -> ActionResult:
    source = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    documents = _principal_documents(self.backend, source)
    results = [
        {
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": decide(documents, action, resource),
            "MatchedStatements": [],
            "MissingContextValues": [],
        }
        for action in actions
        for resource in resources
    ]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


@contextmanager
def iam_simulator() -> Iterator[None]:
    """moto's IAM answers SimulatePrincipalPolicy while this is open."""
    IamResponse.simulate_principal_policy = _simulate_principal_policy  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del IamResponse.simulate_principal_policy  # type: ignore[attr-defined]
