"""Running deploy.sh for real against moto's server, and reading back what it left there."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_SH = REPO_ROOT / "deploy.sh"
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
FAKE_DOCKER_DIR = Path(__file__).resolve().parent / "fake_docker"
RECORDING_AWS_DIR = Path(__file__).resolve().parent / "recording_aws"
DEPLOYER_POLICY = REPO_ROOT / "infra" / "deployer-policy.json"
VENV_BIN = Path(sys.executable).parent
ACCOUNT = "123456789012"  # moto's default account
EXTRACTOR = "salesAnalysisReportDataExtractor"
REPORTER = "salesAnalysisReport"
REPOSITORIES = ("cafe-sales-report-extractor", "cafe-sales-report-reporter")
DB_KEYS = ("dbUrl", "dbName", "dbUser", "dbPort", "dbPassword", "dbSslMode")


def client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass(frozen=True)
class Network:
    """The lab's network, as a person deploying would already have it."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    database_sg_id: str

    @classmethod
    def create(cls, endpoint: str, region: str) -> Network:
        ec2 = client("ec2", endpoint, region)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = tuple(
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{region}{zone}"
            )["Subnet"]["SubnetId"]
            for n, zone in ((1, "a"), (2, "b"))
        )
        sg = ec2.create_security_group(
            GroupName="DatabaseSG", Description="the cafe database", VpcId=vpc
        )["GroupId"]
        return cls(vpc, subnets, sg)

    def settings(self) -> dict[str, str]:
        return {
            "VPC_ID": self.vpc_id,
            "PRIVATE_SUBNET_IDS": ",".join(self.subnet_ids),
            "DATABASE_SECURITY_GROUP_ID": self.database_sg_id,
        }

    def delete(self, endpoint: str, region: str) -> None:
        ec2 = client("ec2", endpoint, region)
        ec2.delete_security_group(GroupId=self.database_sg_id)
        for subnet in self.subnet_ids:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=self.vpc_id)


@dataclass(frozen=True)
class Run:
    """One deploy.sh run: its exit status and what it printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> Run:
        assert self.returncode == 0, f"deploy.sh {' '.join(self.args)} failed:\n{self.output}"
        return self


@dataclass
class Deployer:
    """deploy.sh with the stand-in docker first on PATH, moto for AWS and dummy credentials."""

    endpoint: str
    region: str
    workdir: Path

    @property
    def docker_log(self) -> Path:
        return self.workdir / "docker.log"

    @property
    def aws_log(self) -> Path:
        return self.workdir / "aws.log"

    def env(self, settings: Mapping[str, str] = (), *, credentials: bool = True) -> dict[str, str]:
        """A minimal environment: nothing from the developer's own AWS setup leaks in."""
        env = {
            "PATH": f"{FAKE_DOCKER_DIR}:{RECORDING_AWS_DIR}:{VENV_BIN}:/usr/bin:/bin",
            "REAL_AWS": str(VENV_BIN / "aws"),
            "AWS_CALL_LOG": str(self.aws_log),
            "DEPLOY_POLL_SECONDS": "1",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "FAKE_DOCKER_LOG": str(self.docker_log),
            "FAKE_DOCKER_STATE": str(self.workdir / "docker-state"),
        }
        if credentials:
            env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        return env | dict(settings)

    def run(
        self,
        *args: str,
        settings: Mapping[str, str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> Run:
        """Run deploy.sh from outside the repository (it must not depend on the cwd)."""
        started = time.monotonic()
        done = subprocess.run(
            [str(DEPLOY_SH), *args],
            env=env if env is not None else self.env(settings),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def docker_calls(self) -> list[list[str]]:
        """Every stand-in docker call so far, as argument lists."""
        if not self.docker_log.exists():
            return []
        return [shlex.split(line) for line in self.docker_log.read_text().splitlines()]

    def aws_calls(self) -> list[list[str]]:
        """Every AWS CLI call so far: ["AWS_MAX_ATTEMPTS=...", service, operation, args...]."""
        if not self.aws_log.exists():
            return []
        return [shlex.split(line) for line in self.aws_log.read_text().splitlines()]


@contextmanager
def moto_lambda_for_images(endpoint: str) -> Iterator[None]:
    """moto's Lambda, set up for image functions: images must exist in its ECR, no Docker.

    With MOTO_LAMBDA_STUB_ECR=false moto looks the image digest up in its own ECR, so a wrong
    digest fails the deployment; the docker-less backend answers invokes from a queue.
    Both settings are process-wide (the server runs in this process): restored afterwards.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_LAMBDA_STUB_ECR", "false")
        _moto_config(endpoint, {"lambda": {"use_docker": False}})
        try:
            yield
        finally:
            _moto_config(endpoint, {"lambda": {"use_docker": True}})


def queue_lambda_result(endpoint: str, region: str, payload: Mapping[str, Any]) -> None:
    """What moto's docker-less Lambda answers to the next invoke."""
    body = {"results": [json.dumps(payload)], "region": region}
    _post(f"{endpoint}/moto-api/static/lambda-simple/response", body)


def _moto_config(endpoint: str, config: Mapping[str, Any]) -> None:
    _post(f"{endpoint}/moto-api/config", config)


def _post(url: str, body: Mapping[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 (a local moto URL)
        url, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def remove_deployment(endpoint: str, region: str, prefixes: Sequence[str]) -> None:
    """Remove every stack and repository in the region (each test owns its region) and the
    parameters under `prefixes`: a fixture's clean-up."""
    cfn, ecr = client("cloudformation", endpoint, region), client("ecr", endpoint, region)
    ssm = client("ssm", endpoint, region)
    for stack in cfn.describe_stacks()["Stacks"]:
        with suppress(ClientError):
            cfn.delete_stack(StackName=stack["StackName"])
    for repository in ecr.describe_repositories()["repositories"]:
        with suppress(ClientError):
            ecr.delete_repository(repositoryName=repository["repositoryName"], force=True)
    names = [f"{prefix}/{key}" for prefix in prefixes for key in DB_KEYS]
    for start in range(0, len(names), 10):  # the API's limit per call
        ssm.delete_parameters(Names=names[start : start + 10])


def stack_resources(endpoint: str, region: str, stack: str) -> dict[str, str]:
    """Logical id -> physical id of the stack's resources (as moto created them)."""
    cfn = client("cloudformation", endpoint, region)
    summaries = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries}


def role_policy(endpoint: str, region: str, role_name: str) -> dict[str, Any]:
    """The role's single inline policy document, and its attached managed policies."""
    iam = client("iam", endpoint, region)
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert len(names) == 1, f"{role_name} has inline policies {names}"
    document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):  # moto keeps a template's policy as the repr of its dict
        document = ast.literal_eval(document)
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    return {"document": document, "attached": attached}


def region_state(endpoint: str, region: str, stack: str) -> dict[str, Any]:
    """Everything deploy.sh may create or change, as comparable data."""
    cfn, ecr = client("cloudformation", endpoint, region), client("ecr", endpoint, region)
    lam, ssm = client("lambda", endpoint, region), client("ssm", endpoint, region)
    ec2, logs = client("ec2", endpoint, region), client("logs", endpoint, region)
    sns, sqs = client("sns", endpoint, region), client("sqs", endpoint, region)
    iam = client("iam", endpoint, region)
    state: dict[str, Any] = {}

    stacks = cfn.describe_stacks()["Stacks"]
    state["stacks"] = sorted(
        (s["StackName"], s["StackStatus"], str(s.get("LastUpdatedTime")), repr(s.get("Parameters")))
        for s in stacks
    )
    if any(s["StackName"] == stack for s in stacks):
        state["stack events"] = len(cfn.describe_stack_events(StackName=stack)["StackEvents"])
        state["stack resources"] = stack_resources(endpoint, region, stack)

    state["repositories"] = {}
    for repo in ecr.describe_repositories()["repositories"]:
        name = repo["repositoryName"]
        with suppress(ClientError):
            repo["lifecyclePolicy"] = ecr.get_lifecycle_policy(repositoryName=name)[
                "lifecyclePolicyText"
            ]
        with suppress(ClientError):
            repo["policy"] = ecr.get_repository_policy(repositoryName=name)["policyText"]
        repo["images"] = sorted(
            (i["imageDigest"], tuple(sorted(i.get("imageTags", []))), str(i["imagePushedAt"]))
            for i in ecr.describe_images(repositoryName=name)["imageDetails"]
        )
        state["repositories"][name] = repo

    state["parameters"] = sorted(
        (p["Name"], p["Type"], p["Version"], str(p["LastModifiedDate"]))
        for p in ssm.describe_parameters()["Parameters"]
    )
    state["functions"] = {}
    for function in lam.list_functions()["Functions"]:
        detail = lam.get_function(FunctionName=function["FunctionName"])
        detail.pop("ResponseMetadata")
        state["functions"][function["FunctionName"]] = detail
    state["security groups"] = sorted(
        (g["GroupId"], g["GroupName"], json.dumps(g["IpPermissions"], sort_keys=True))
        for g in ec2.describe_security_groups()["SecurityGroups"]
    )
    state["log groups"] = sorted(
        (g["logGroupName"], g.get("retentionInDays"), g["creationTime"])
        for g in logs.describe_log_groups()["logGroups"]
    )
    state["topics"] = sorted(t["TopicArn"] for t in sns.list_topics()["Topics"])
    state["subscriptions"] = sorted(
        (s["TopicArn"], s["Protocol"], s["Endpoint"])
        for s in sns.list_subscriptions()["Subscriptions"]
    )
    state["queues"] = sorted(sqs.list_queues().get("QueueUrls", []))
    dynamodb = client("dynamodb", endpoint, region)
    state["tables"] = sorted(dynamodb.list_tables()["TableNames"])
    state["roles"] = sorted(
        (r["RoleName"], str(r["CreateDate"])) for r in iam.list_roles()["Roles"]
    )
    return state


# --- the template, as CloudFormation reads it -------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 (safe loader)


def iam_statements(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role logical id, statement) for every inline policy statement in the template."""
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- states moto never reaches, put into its own backend (the server runs in this process) -----


def inject_stack_state(
    region: str, stack: str, status: str, events: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Leave `stack` in `status` with `events` (logical id, status, reason) after its own, oldest
    first: what CloudFormation leaves after a failure. moto's stacks never fail."""
    from moto.cloudformation.models import Event, cloudformation_backends

    backend = cloudformation_backends[ACCOUNT][region]
    (found,) = (s for s in backend.stacks.values() if s.name == stack)
    for logical, resource_status, reason in events:
        kind = "AWS::CloudFormation::Stack" if logical == stack else "AWS::Lambda::Function"
        found.events.append(
            Event(found.stack_id, stack, logical, "", kind, resource_status, reason, None)
        )
    found.status = status


def mark_subscription_pending(region: str, endpoint: str) -> None:
    """The email subscription of `endpoint` as AWS lists it until the address confirms it
    (moto confirms every subscription at once)."""
    from moto.sns.models import sns_backends

    for subscription in sns_backends[ACCOUNT][region].subscriptions.values():
        if subscription.endpoint == endpoint:
            subscription.arn = "PendingConfirmation"
