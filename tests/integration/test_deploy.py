"""deploy.sh, run for real against moto's server over HTTP, then read back through the AWS API.

A stand-in `docker` (tests/support/fake_docker) comes first on PATH: it records its arguments
and, on push, registers a small image manifest in moto's ECR, so the digests deploy.sh resolves
and the functions' image URIs are real ECR answers (moto checks the digest exists). A recorder in
front of the real AWS CLI (tests/support/recording_aws) logs every call, for the deployer policy
and retry checks. moto lacks iam:SimulatePrincipalPolicy: tests/support/iam_simulator.py adds it.

The tests of one deployment share it and run in file order: first deployment, an unchanged
second run, a dry run, then the changes (--update-code, a settings change, --replay-failures, a
second stack with the lab's own roles, --destroy). Schedules, alarms and event-invoke configs
are not created by moto: test_template.py checks them in the template. States moto never
reaches (a failed update or deletion, an unconfirmed subscription) are put into its backend.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.deploy import (
    ACCOUNT,
    DEPLOY_SH,
    EXTRACTOR,
    REPORTER,
    REPOSITORIES,
    Deployer,
    Network,
    Run,
    client,
    inject_stack_state,
    load_template,
    mark_subscription_pending,
    moto_lambda_for_images,
    queue_lambda_result,
    region_state,
    remove_deployment,
    role_policy,
    stack_resources,
)
from support.iam_simulator import iam_simulator

REGION = "eu-west-2"
STACK = "cafe-sales-report"
SECOND = "cafe-lab"  # a second stack in the same region, with the lab's own roles
EXISTING_PASSWORD = "pre-existing-secret"
NEW_PASSWORD = 'Fresh!pa$$ "word" http://not-a-url'
DB_SETTINGS = {
    "DB_URL": "cafe-db.abc123.eu-west-2.rds.amazonaws.com",
    "DB_NAME": "cafe",
    "DB_USER": "reporter",
    "DB_PASSWORD": "must-not-replace-the-existing-one",
}
LAMBDA_TRUST = {"Service": "lambda.amazonaws.com"}
SCHEDULER_TRUST = {"Service": "scheduler.amazonaws.com"}


@pytest.fixture(scope="module", autouse=True)
def simulator() -> Iterator[None]:
    with iam_simulator():
        yield


@dataclass
class Deployment:
    """One deployment in moto, and what its first runs printed and left behind."""

    deployer: Deployer
    network: Network
    settings: dict[str, str]
    first: Run
    second: Run
    dry_run: Run
    after_first: dict[str, Any]
    after_second: dict[str, Any]
    after_dry_run: dict[str, Any]
    docker_calls_before_dry_run: int

    def state(self) -> dict[str, Any]:
        return region_state(self.deployer.endpoint, REGION, STACK)

    def client(self, service: str) -> Any:
        return client(service, self.deployer.endpoint, REGION)

    def resources(self, stack: str = STACK) -> dict[str, str]:
        return stack_resources(self.deployer.endpoint, REGION, stack)

    def stack_parameters(self, stack: str = STACK) -> dict[str, str]:
        (found,) = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}

    def image_digest(self, repository: str) -> str:
        """The digest of the image pushed last."""
        images = self.client("ecr").describe_images(repositoryName=repository)["imageDetails"]
        return str(max(images, key=lambda i: i["imagePushedAt"])["imageDigest"])

    def repository_uri(self, repository: str) -> str:
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}"


@contextmanager
def deployment_region(endpoint: str) -> Iterator[Network]:
    """The lab's network in REGION; afterwards, whatever deploy.sh left there is removed."""
    network = Network.create(endpoint, REGION)
    try:
        yield network
    finally:
        remove_deployment(endpoint, REGION, ("/cafe", "/cafe-next", f"/{SECOND}"))
        iam = client("iam", endpoint, REGION)
        for role in ("salesAnalysisReportDERole", "salesAnalysisReportRole", "cafeSchedulerRole"):
            with suppress(ClientError):
                for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                    iam.delete_role_policy(RoleName=role, PolicyName=name)
                iam.delete_role(RoleName=role)
        network.delete(endpoint, REGION)


@pytest.fixture(scope="module")
def deployment(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A first deployment, an identical second run and a dry run, with state after each."""
    with moto_lambda_for_images(moto_endpoint), deployment_region(moto_endpoint) as network:
        deployer = Deployer(moto_endpoint, REGION, tmp_path_factory.mktemp("deploy"))
        client("ssm", moto_endpoint, REGION).put_parameter(
            Name="/cafe/dbPassword", Value=EXISTING_PASSWORD, Type="SecureString"
        )
        # Left half-made by an older deploy.sh: no scan on push, no lifecycle, no pull policy.
        client("ecr", moto_endpoint, REGION).create_repository(repositoryName=REPOSITORIES[0])
        settings = {
            **network.settings(),
            **DB_SETTINGS,
            "DB_SSL_MODE": "VERIFY_CA",
            "REPORT_EMAIL": "owners@example.com",
            "ALARM_EMAIL": "ops@example.com",
        }
        first = deployer.run(settings=settings).check()
        after_first = region_state(moto_endpoint, REGION, STACK)
        second = deployer.run(settings=settings).check()
        after_second = region_state(moto_endpoint, REGION, STACK)
        calls = len(deployer.docker_calls())
        env_file = deployer.workdir / "deploy.env"
        env_file.write_text(
            "# as a person would keep it\n"
            f"export VPC_ID={network.vpc_id}\n"
            f'PRIVATE_SUBNET_IDS="{",".join(network.subnet_ids)}"\n'
            f"DATABASE_SECURITY_GROUP_ID='{network.database_sg_id}'  # DatabaseSG\n"
            "REPORT_EMAIL=file@example.com\n"
            "LOG_RETENTION_DAYS=14\n"
        )
        dry_run = deployer.run(
            "--dry-run",
            "--env-file",
            str(env_file),
            env=deployer.env({"REPORT_EMAIL": "environment@example.com"}),
        ).check()
        yield Deployment(
            deployer=deployer,
            network=network,
            settings=settings,
            first=first,
            second=second,
            dry_run=dry_run,
            after_first=after_first,
            after_second=after_second,
            after_dry_run=region_state(moto_endpoint, REGION, STACK),
            docker_calls_before_dry_run=calls,
        )


def test_repositories_get_scan_on_push_lifecycle_and_lambda_pull_policy(
    deployment: Deployment,
) -> None:
    """The repository an older run left half-made is brought to the same settings as the new."""
    repositories = deployment.after_first["repositories"]
    assert set(repositories) == set(REPOSITORIES)
    for repository in repositories.values():
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        (rule,) = json.loads(repository["lifecyclePolicy"])["rules"]
        assert rule["selection"] == {
            "tagStatus": "any",
            "countType": "imageCountMoreThan",
            "countNumber": 10,
        }
        assert rule["action"] == {"type": "expire"}
        (statement,) = json.loads(repository["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert sorted(statement["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        assert statement["Condition"] == {
            "StringLike": {"aws:sourceArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"}
        }
    assert f"ECR {REPOSITORIES[0]}: exists; will set: scan-on-push lifecycle pull-policy" in (
        deployment.first.stdout
    )
    assert "settings as expected" in deployment.second.stdout


def test_first_run_keeps_the_existing_password_and_creates_the_other_settings(
    deployment: Deployment,
) -> None:
    ssm = deployment.client("ssm")
    names = [f"/cafe/{key}" for key in ("dbUrl", "dbName", "dbUser", "dbPassword", "dbSslMode")]
    found = {
        p["Name"]: p for p in ssm.get_parameters(Names=names, WithDecryption=True)["Parameters"]
    }
    password = found["/cafe/dbPassword"]
    assert (password["Type"], password["Value"], password["Version"]) == (
        "SecureString",
        EXISTING_PASSWORD,
        1,
    )
    assert {name: (p["Type"], p["Value"]) for name, p in found.items() if p is not password} == {
        "/cafe/dbUrl": ("String", DB_SETTINGS["DB_URL"]),
        "/cafe/dbName": ("String", "cafe"),
        "/cafe/dbUser": ("String", "reporter"),
        "/cafe/dbSslMode": ("String", "VERIFY_CA"),
    }
    assert not ssm.get_parameters(Names=["/cafe/dbPort"])["Parameters"], "dbPort is optional"
    assert "/cafe/dbPassword: exists, kept" in deployment.first.stdout


def test_functions_run_the_pushed_images_by_digest(deployment: Deployment) -> None:
    functions = deployment.after_first["functions"]
    resources = deployment.after_first["stack resources"]
    for name, repository in zip((EXTRACTOR, REPORTER), REPOSITORIES, strict=True):
        digest = deployment.image_digest(repository)
        function = functions[name]
        assert function["Code"]["ImageUri"] == f"{deployment.repository_uri(repository)}@{digest}"
        # moto resolved the digest in its ECR (MOTO_LAMBDA_STUB_ECR=false), as Lambda does.
        assert function["Configuration"]["CodeSha256"] == digest.removeprefix("sha256:")
        assert function["Configuration"]["MemorySize"] == 128
    # The reporter waits for the extractor, then needs about 15 s of its own.
    assert functions[EXTRACTOR]["Configuration"]["Timeout"] == 30
    assert functions[REPORTER]["Configuration"]["Timeout"] == 45
    extractor = functions[EXTRACTOR]
    assert extractor["Configuration"]["VpcConfig"]["SubnetIds"] == list(
        deployment.network.subnet_ids
    )
    assert extractor["Configuration"]["VpcConfig"]["SecurityGroupIds"] == [resources["LambdaSG"]]
    assert extractor["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    reporter = functions[REPORTER]
    assert "VpcConfig" not in reporter["Configuration"]
    assert reporter["Configuration"]["Environment"]["Variables"] == {
        "topicARN": resources["ReportTopic"],
        "EXTRACTOR_FUNCTION_NAME": EXTRACTOR,
        "SSM_PREFIX": "/cafe",
        "REPORT_TIMEZONE": "Europe/London",
        "DELIVERY_TABLE": resources["DeliveryTable"],
    }


def test_images_are_built_single_platform_without_attestations(deployment: Deployment) -> None:
    calls = deployment.deployer.docker_calls()[: deployment.docker_calls_before_dry_run]
    login = [c for c in calls if c[0] == "login"]
    assert login[0] == [
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
    ]
    builds = [c for c in calls if c[:2] == ["buildx", "build"]]
    assert len(builds) == 4  # two runs, two images
    for build, target in zip(builds, ("extractor", "reporter") * 2, strict=True):
        assert build[build.index("--target") + 1] == target
        assert build[build.index("--platform") + 1] == "linux/amd64"
        assert {"--provenance=false", "--sbom=false", "--load"} <= set(build)
        assert build[build.index("-f") + 1].endswith("/docker/Dockerfile")
    pushes = [c[1] for c in calls if c[0] == "push"]
    assert [p.rsplit(":", 1)[0].rsplit("/", 1)[1] for p in pushes] == list(REPOSITORIES) * 2


def test_roles_grant_exactly_what_each_function_needs(deployment: Deployment) -> None:
    endpoint, resources = deployment.deployer.endpoint, deployment.after_first["stack resources"]
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    reporter = role_policy(endpoint, REGION, resources["ReporterRole"])
    assert reporter["attached"] == []
    statements = {s["Sid"]: s for s in reporter["document"]["Statement"]}
    failure_queue = resources["ReportFailureQueue"].split("/")[-1]
    assert {sid: (s["Action"], s["Resource"]) for sid, s in statements.items()} == {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            arn.format("logs", "log-group:/aws/lambda/salesAnalysisReport:*"),
        ),
        "ReadDatabaseSettings": ("ssm:GetParameters", arn.format("ssm", "parameter/cafe/*")),
        "DecryptDatabasePasswordThroughSsm": ("kms:Decrypt", arn.format("kms", "key/*")),
        "InvokeExtractor": ("lambda:InvokeFunction", arn.format("lambda", f"function:{EXTRACTOR}")),
        # The delivery record: get, claim (conditional put) and record, on its own table only.
        "RecordDeliveries": (
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            arn.format("dynamodb", f"table/{resources['DeliveryTable']}"),
        ),
        "PublishReport": ("sns:Publish", resources["ReportTopic"]),
        "KeepFailedDays": ("sqs:SendMessage", arn.format("sqs", failure_queue)),
    }
    assert statements["DecryptDatabasePasswordThroughSsm"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:PARAMETER_ARN": arn.format("ssm", "parameter/cafe/*")
        },
    }
    extractor = role_policy(endpoint, REGION, resources["ExtractorRole"])
    assert extractor["attached"] == []
    statements = {s["Sid"]: s for s in extractor["document"]["Statement"]}
    assert set(statements) == {"WriteOwnLogs", "ManageVpcNetworkInterfaces"}
    assert statements["WriteOwnLogs"]["Resource"] == arn.format(
        "logs", f"log-group:/aws/lambda/{EXTRACTOR}:*"
    )
    # The only "*": network interface management, which AWS allows on no narrower resource.
    assert statements["ManageVpcNetworkInterfaces"]["Resource"] == "*"
    assert all(a.startswith("ec2:") for a in statements["ManageVpcNetworkInterfaces"]["Action"])
    scheduler = role_policy(endpoint, REGION, resources["SchedulerRole"])
    assert {(s["Action"], s["Resource"]) for s in scheduler["document"]["Statement"]} == {
        ("lambda:InvokeFunction", arn.format("lambda", f"function:{REPORTER}")),
        ("sqs:SendMessage", arn.format("sqs", resources["ScheduleDeadLetterQueue"].split("/")[-1])),
    }


def test_delivery_table_and_failure_queue(deployment: Deployment) -> None:
    resources = deployment.after_first["stack resources"]
    table = deployment.client("dynamodb").describe_table(TableName=resources["DeliveryTable"])
    table = table["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # Encryption, TTL and recovery: moto drops them from a template; test_template.py has them.
    sqs = deployment.client("sqs")
    for queue in ("ReportFailureQueue", "ScheduleDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=resources[queue], AttributeNames=["MessageRetentionPeriod"]
        )["Attributes"]
        assert attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600), queue


def test_topics_and_email_subscriptions(deployment: Deployment) -> None:
    resources = deployment.after_first["stack resources"]
    assert set(deployment.after_first["subscriptions"]) == {
        (resources["ReportTopic"], "email", "owners@example.com"),
        (resources["AlarmTopic"], "email", "ops@example.com"),
    }
    attributes = deployment.client("sns").get_topic_attributes(TopicArn=resources["ReportTopic"])
    assert attributes["Attributes"]["DisplayName"] == "Sales Report Topic"


def test_database_sg_admits_mysql_from_lambda_sg_only(deployment: Deployment) -> None:
    ec2 = deployment.client("ec2")
    lambda_sg = deployment.after_first["stack resources"]["LambdaSG"]
    (database_sg,) = ec2.describe_security_groups(GroupIds=[deployment.network.database_sg_id])[
        "SecurityGroups"
    ]
    assert [
        (p["IpProtocol"], p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]])
        for p in database_sg["IpPermissions"]
    ] == [("tcp", 3306, 3306, [lambda_sg])]
    (created,) = ec2.describe_security_groups(GroupIds=[lambda_sg])["SecurityGroups"]
    assert created["VpcId"] == deployment.network.vpc_id
    assert {"Key": "Name", "Value": "LambdaSG"} in created["Tags"]
    assert created["GroupName"] != "LambdaSG", "CloudFormation names it, so it can be replaced"


def test_log_groups_have_retention(deployment: Deployment) -> None:
    groups = {name: days for name, days, _ in deployment.after_first["log groups"]}
    assert groups == {f"/aws/lambda/{EXTRACTOR}": 30, f"/aws/lambda/{REPORTER}": 30}


def test_second_run_changes_nothing_and_shows_the_state(deployment: Deployment) -> None:
    assert deployment.after_second == deployment.after_first
    out = deployment.second.stdout
    assert "stack cafe-sales-report was already up to date" in out
    assert "Setting up ECR repositories" not in out
    assert "Writing the database settings" not in out
    # Every run, changed or not, ends with who gets what and what waits to be re-sent.
    for run in (deployment.first, deployment.second):
        assert "==> State of stack cafe-sales-report" in run.stdout
        assert "reports: owners@example.com (email): confirmed" in run.stdout
        assert "alarms: ops@example.com (email): confirmed" in run.stdout
        assert "failed days waiting to be re-sent: none" in run.stdout


def test_dry_run_changes_nothing_and_prints_the_plan(deployment: Deployment) -> None:
    assert deployment.after_dry_run == deployment.after_second
    calls = deployment.deployer.docker_calls()[deployment.docker_calls_before_dry_run :]
    assert all(c in (["version"], ["buildx", "version"]) for c in calls), calls
    out = deployment.dry_run.stdout
    assert "Dry run: nothing was changed" in out
    block = out.split("stack parameters:")[1]
    parameters = dict(re.findall(r"^ {6}([A-Za-z]+)=(.*)$", block, re.MULTILINE))
    assert set(parameters) == set(load_template()["Parameters"]), "deploy.sh passes every one"
    # The environment beats deploy.env, which beats the defaults.
    assert parameters["ReportEmail"] == "environment@example.com"
    assert parameters["LogRetentionDays"] == "14"
    assert parameters["PrivateSubnetIds"] == ",".join(deployment.network.subnet_ids)
    assert parameters["ScheduleExpression"] == "cron(0 20 ? * MON-SAT *)"
    assert (parameters["ExtractorTimeout"], parameters["ReporterTimeout"]) == ("30", "45")
    assert parameters["ExtractorRoleArn"] == parameters["ReporterRoleArn"] == ""
    assert "extractor role: keep the stack's least-privilege role" in out
    # Unset, the reservation keeps what is deployed.
    assert parameters["ExtractorReservedConcurrency"] == "2"
    assert "ALARM_EMAIL is empty: nobody is told" in deployment.dry_run.stderr


def test_password_is_never_printed(deployment: Deployment) -> None:
    runs = (deployment.first, deployment.second, deployment.dry_run)
    for secret in (EXISTING_PASSWORD, DB_SETTINGS["DB_PASSWORD"]):
        assert all(secret not in run.output for run in runs)
        assert secret not in deployment.deployer.docker_log.read_text()
        assert secret not in deployment.deployer.aws_log.read_text()


# --- changes, in order -------------------------------------------------------------------------


def test_update_code_records_the_new_digests_in_the_stack(deployment: Deployment) -> None:
    before = deployment.state()
    parameters_before = deployment.stack_parameters()
    queue_lambda_result(
        deployment.deployer.endpoint, REGION, {"statusCode": 200, "delivery": "already-sent"}
    )
    changed = deployment.deployer.env({"FAKE_DOCKER_REVISION": "2"})
    run = deployment.deployer.run("--update-code", "--invoke-now", env=changed).check()
    after = deployment.state()
    parameters = deployment.stack_parameters()
    for name, repository, key in zip(
        (EXTRACTOR, REPORTER), REPOSITORIES, ("ExtractorImageUri", "ReporterImageUri"), strict=True
    ):
        uri = after["functions"][name]["Code"]["ImageUri"]
        assert (
            uri == f"{deployment.repository_uri(repository)}@{deployment.image_digest(repository)}"
        )
        assert uri != before["functions"][name]["Code"]["ImageUri"]
        # The stack records it: a later failed deploy cannot roll the code back to the old one.
        assert parameters[key] == uri
    unchanged = {k: v for k, v in parameters.items() if not k.endswith("ImageUri")}
    assert unchanged == {k: v for k, v in parameters_before.items() if not k.endswith("ImageUri")}
    for same in ("parameters", "subscriptions", "security groups", "tables"):
        assert after[same] == before[same], same
    assert 'result: {"statusCode": 200, "delivery": "already-sent"}' in run.stdout
    # One attempt, and a read timeout past the reporter's 45 s: never a second run of the report.
    (invoke,) = [c for c in deployment.deployer.aws_calls() if c[1:3] == ["lambda", "invoke"]]
    assert invoke[0] == "AWS_MAX_ATTEMPTS=1"
    assert invoke[invoke.index("--cli-read-timeout") + 1] == "75"
    assert invoke[invoke.index("--payload") + 1].startswith("fileb://")
    assert "--cli-binary-format" not in invoke


def test_update_code_refuses_an_image_index(deployment: Deployment) -> None:
    """BuildKit's attestations turn a push into an image index, which Lambda cannot run."""
    before = deployment.state()["functions"]
    index = deployment.deployer.env(
        {"FAKE_DOCKER_MEDIA_TYPE": "index", "FAKE_DOCKER_REVISION": "3"}
    )
    run = deployment.deployer.run("--update-code", env=index)
    assert run.returncode == 1
    assert "was pushed as application/vnd.oci.image.index.v1+json, an image index" in run.stderr
    assert "--provenance=false --sbom=false" in run.stderr
    assert deployment.state()["functions"] == before


def test_update_code_follows_the_arch_flag(deployment: Deployment) -> None:
    changed = deployment.deployer.env({"FAKE_DOCKER_REVISION": "4"})
    calls = len(deployment.deployer.docker_calls())
    run = deployment.deployer.run("--update-code", "--arch", "arm64", env=changed).check()
    assert "Architecture x86_64 -> arm64" in run.stdout
    builds = [c for c in deployment.deployer.docker_calls()[calls:] if c[:2] == ["buildx", "build"]]
    assert {b[b.index("--platform") + 1] for b in builds} == {"linux/arm64"}
    assert deployment.stack_parameters()["Architecture"] == "arm64"


def test_full_deploy_records_new_digests_and_settings(deployment: Deployment) -> None:
    """After --update-code, a settings change: a new prefix, whose password deploy.sh creates."""
    ssm = deployment.client("ssm")
    for key, setting in (("dbUrl", "DB_URL"), ("dbName", "DB_NAME"), ("dbUser", "DB_USER")):
        ssm.put_parameter(Name=f"/cafe-next/{key}", Value=DB_SETTINGS[setting], Type="String")
    mark_subscription_pending(REGION, "owners@example.com")
    settings = {
        **deployment.settings,
        "SSM_PREFIX": "/cafe-next",
        "DB_PASSWORD": NEW_PASSWORD,
        "FAKE_DOCKER_REVISION": "2",
    }
    before = deployment.state()
    run = deployment.deployer.run(settings=settings).check()
    after = deployment.state()
    assert after["stack events"] > before["stack events"], "the stack was updated"
    parameters = deployment.stack_parameters()
    for name, key in ((EXTRACTOR, "ExtractorImageUri"), (REPORTER, "ReporterImageUri")):
        assert parameters[key] == after["functions"][name]["Code"]["ImageUri"]
    assert parameters["SsmPrefix"] == "/cafe-next"
    assert parameters["Architecture"] == "x86_64", "the settings' architecture, not arm64"
    variables = after["functions"][REPORTER]["Configuration"]["Environment"]["Variables"]
    assert variables["SSM_PREFIX"] == "/cafe-next"

    password = ssm.get_parameter(Name="/cafe-next/dbPassword", WithDecryption=True)["Parameter"]
    assert (password["Type"], password["Value"]) == ("SecureString", NEW_PASSWORD)
    assert "/cafe-next/dbPassword: created (SecureString)" in run.stdout
    assert "/cafe-next/dbUrl: exists, kept" in run.stdout
    old = ssm.get_parameter(Name="/cafe/dbPassword", WithDecryption=True)["Parameter"]
    assert (old["Value"], old["Version"]) == (EXISTING_PASSWORD, 1)
    # moto does not update a role's inline policies on a stack update; the template ties the
    # reporter's ssm:GetParameters to SsmPrefix (test_roles_grant_exactly_what_each_function_needs).
    assert NEW_PASSWORD not in run.output
    assert NEW_PASSWORD not in deployment.deployer.docker_log.read_text()
    assert NEW_PASSWORD not in deployment.deployer.aws_log.read_text()
    # The outputs (moto has them once a stack was updated outside a change set) and the
    # address that has not confirmed yet.
    assert "RunReportNow: echo '{}' | AWS_MAX_ATTEMPTS=1 aws lambda invoke" in run.stdout
    assert "reports: owners@example.com (email): waiting for confirmation" in run.stdout
    assert "no confirmed subscriber gets the reports" in run.stderr


def test_the_run_report_now_output_runs_as_printed(deployment: Deployment) -> None:
    """Pasted as printed, with the AWS CLI v1 the tests pin (it has no --cli-binary-format)."""
    (stack,) = deployment.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    command = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["RunReportNow"]
    calls = len(deployment.deployer.aws_calls())
    done = subprocess.run(
        ["bash", "-c", command],
        env=deployment.deployer.env(),
        cwd=deployment.deployer.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # moto's Lambda answers with the payload it got: the event went through stdin intact.
    assert done.stdout.rstrip().endswith("}\n{}"), done.stdout
    (invoke,) = deployment.deployer.aws_calls()[calls:]
    assert invoke[:3] == ["AWS_MAX_ATTEMPTS=1", "lambda", "invoke"]
    assert invoke[invoke.index("--function-name") + 1] == REPORTER


def _destination_record(payload: dict[str, Any]) -> str:
    """What Lambda sends to the on-failure destination after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-11-27T20:03:07.123Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{REPORTER}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorType": "ExtractorFailedError", "errorMessage": "..."},
        },
        separators=(",", ":"),
    )


def test_replay_failures_resends_each_day_and_deletes_only_what_was_sent(
    deployment: Deployment,
) -> None:
    resources, sqs = deployment.resources(), deployment.client("sqs")
    failures, dead_letters = resources["ReportFailureQueue"], resources["ScheduleDeadLetterQueue"]
    sqs.send_message(
        QueueUrl=failures,
        MessageBody=_destination_record({"scheduledTime": "2026-11-27T20:00:00Z"}),
    )
    sqs.send_message(
        QueueUrl=failures,
        MessageBody=_destination_record({"reportDate": "2026-11-25", "resend": True}),
    )
    sqs.send_message(QueueUrl=failures, MessageBody=_destination_record({"hello": "world"}))
    sqs.send_message(QueueUrl=dead_letters, MessageBody='{"scheduledTime": "2026-11-28T20:00:00Z"}')
    dry = deployment.deployer.run("--replay-failures", "--dry-run").check()
    assert 'would re-send {"scheduledTime": "2026-11-27T20:00:00Z"}' in dry.stdout
    assert 'would re-send {"reportDate": "2026-11-25", "resend": true}' in dry.stdout
    assert 'would re-send {"scheduledTime": "2026-11-28T20:00:00Z"}' in dry.stdout

    endpoint = deployment.deployer.endpoint
    queue_lambda_result(endpoint, REGION, {"statusCode": 200, "delivery": "sent"})
    queue_lambda_result(
        endpoint, REGION, {"errorType": "ExtractorFailedError", "errorMessage": "db down"}
    )
    queue_lambda_result(endpoint, REGION, {"statusCode": 200, "delivery": "already-sent"})
    calls = len(deployment.deployer.aws_calls())
    run = deployment.deployer.run("--replay-failures")
    assert run.returncode == 1, run.output
    invokes = [c for c in deployment.deployer.aws_calls()[calls:] if c[1:3] == ["lambda", "invoke"]]
    assert len(invokes) == 3, "the message without a day is not sent"
    assert all(c[0] == "AWS_MAX_ATTEMPTS=1" for c in invokes)
    out = run.stdout
    assert '({"scheduledTime": "2026-11-27T20:00:00Z"}): "delivery": "sent"; deleted' in out
    assert '({"reportDate": "2026-11-25", "resend": true}): the reporter failed again' in out
    assert "db down" in out
    assert '({"scheduledTime": "2026-11-28T20:00:00Z"}): "delivery": "already-sent"; deleted' in out
    assert "no reportDate or scheduledTime to re-send: left in the queue" in out
    assert "1 day(s) failed again" in run.stderr
    left = {
        queue: [
            m["Body"]
            for m in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
        ]
        for queue, url in (("failures", failures), ("dead letters", dead_letters))
    }
    assert left["dead letters"] == []
    assert sorted('"hello":"world"' in body for body in left["failures"]) == [False, True]
    assert any('"resend":true' in body for body in left["failures"])
    for queue in (failures, dead_letters):
        sqs.purge_queue(QueueUrl=queue)


def test_a_second_stack_uses_the_labs_roles_and_its_own_names(deployment: Deployment) -> None:
    """Bring your own roles: bare names become ARNs; the stack creates none; names never clash."""
    iam = deployment.client("iam")
    roles = {
        "EXTRACTOR_ROLE_ARN": _role(iam, "salesAnalysisReportDERole", LAMBDA_TRUST, _EXTRACTOR),
        "REPORTER_ROLE_ARN": _role(iam, "salesAnalysisReportRole", LAMBDA_TRUST, _REPORTER),
        "SCHEDULER_ROLE_ARN": _role(iam, "cafeSchedulerRole", SCHEDULER_TRUST, _SCHEDULER),
    }
    settings = {
        **deployment.settings,
        "STACK_NAME": SECOND,
        "EXTRACTOR_ROLE_ARN": "salesAnalysisReportDERole",
        "REPORTER_ROLE_ARN": roles["REPORTER_ROLE_ARN"],
        "SCHEDULER_ROLE_ARN": "cafeSchedulerRole",
        "DB_PASSWORD": "second-stack-password",
    }
    first_before = {k: v for k, v in deployment.state().items() if k != "stacks"}
    roles_before = deployment.state()["roles"]
    dry = deployment.deployer.run("--dry-run", settings=settings).check()
    for setting, arn in roles.items():
        assert f"use {arn} (the stack creates none)" in dry.stdout, setting
    assert (
        f"functions: {SECOND}-salesAnalysisReportDataExtractor, {SECOND}-salesAnalysisReport"
        in (dry.stdout)
    )

    run = deployment.deployer.run(settings=settings).check()
    state = deployment.state()
    assert state["roles"] == roles_before, "no role created"
    resources = deployment.resources(SECOND)
    assert not {"ExtractorRole", "ReporterRole", "SchedulerRole"} & resources.keys()
    extractor, reporter = (
        state["functions"][f"{SECOND}-salesAnalysisReport{suffix}"]
        for suffix in ("DataExtractor", "")
    )
    assert extractor["Configuration"]["Role"] == roles["EXTRACTOR_ROLE_ARN"]
    assert reporter["Configuration"]["Role"] == roles["REPORTER_ROLE_ARN"]
    # The schedule (which moto does not create) gets its role from this parameter.
    assert deployment.stack_parameters(SECOND)["SchedulerRoleArn"] == roles["SCHEDULER_ROLE_ARN"]
    variables = reporter["Configuration"]["Environment"]["Variables"]
    assert variables["EXTRACTOR_FUNCTION_NAME"] == f"{SECOND}-salesAnalysisReportDataExtractor"
    assert variables["SSM_PREFIX"] == f"/{SECOND}"
    assert {f"{SECOND}-extractor", f"{SECOND}-reporter"} <= state["repositories"].keys()
    assert f"/aws/lambda/{SECOND}-salesAnalysisReport" in {g[0] for g in state["log groups"]}
    # The first stack's functions, log groups and repositories were left alone.
    for name in (EXTRACTOR, REPORTER):
        assert state["functions"][name] == first_before["functions"][name]
    for repository in REPOSITORIES:
        assert state["repositories"][repository] == first_before["repositories"][repository]
    assert set(first_before["log groups"]) <= set(state["log groups"])
    assert "cannot check what role" not in run.stderr, "the simulator checked every need"


def test_destroying_the_second_stack_with_purge_keeps_the_first(deployment: Deployment) -> None:
    before = deployment.state()
    deployment.deployer.run(
        "--destroy", "--purge", "--yes", settings={"STACK_NAME": SECOND}
    ).check()
    after = deployment.state()
    assert [s[0] for s in after["stacks"]] == [STACK]
    assert set(after["repositories"]) == set(REPOSITORIES)
    assert after["functions"].keys() == {EXTRACTOR, REPORTER}
    assert not [p for p in after["parameters"] if p[0].startswith(f"/{SECOND}/")]
    assert [p for p in after["parameters"] if not p[0].startswith(f"/{SECOND}/")] == [
        p for p in before["parameters"] if not p[0].startswith(f"/{SECOND}/")
    ]


def test_destroy_resumes_a_failed_deletion_and_keeps_images_and_settings_unless_purged(
    deployment: Deployment,
) -> None:
    deployer, prefix = deployment.deployer, {"SSM_PREFIX": "/cafe-next"}
    refused = deployer.run("--destroy", settings=prefix)
    assert refused.returncode == 1
    assert "refusing to delete without confirmation" in refused.stderr
    assert "add --yes; nothing was changed" in refused.stderr
    wrong = deployer.run("--destroy", "--yes", "--retain-resources", "LambdaSG", settings=prefix)
    assert wrong.returncode == 1
    assert "only applies to a stack whose deletion failed (DELETE_FAILED)" in wrong.stderr

    # What AWS leaves when Lambda still holds the extractor's network interfaces.
    deployment.client("sqs").send_message(
        QueueUrl=deployment.resources()["ReportFailureQueue"],
        MessageBody=_destination_record({"scheduledTime": "2026-11-30T20:00:00Z"}),
    )
    inject_stack_state(
        REGION,
        STACK,
        "DELETE_FAILED",
        [
            (STACK, "DELETE_IN_PROGRESS", "User Initiated"),
            ("LambdaSG", "DELETE_FAILED", "resource sg-0abc has a dependent object"),
            (STACK, "DELETE_FAILED", "The following resource(s) failed to delete: [LambdaSG]."),
        ],
    )
    before = deployment.state()
    calls = len(deployer.aws_calls())
    run = deployer.run("--destroy", "--yes", "--retain-resources", "LambdaSG", settings=prefix)
    run.check()
    assert "first failure (the cause): " in run.stderr
    assert "LambdaSG  DELETE_FAILED  resource sg-0abc has a dependent object" in run.stderr
    assert "resuming the deletion that failed" in run.stdout
    assert "ReportFailureQueue holds 1 failed day(s) that were never sent" in run.stderr
    (delete,) = [
        c for c in deployer.aws_calls()[calls:] if c[1:3] == ["cloudformation", "delete-stack"]
    ]
    assert delete[delete.index("--retain-resources") + 1 :] == ["LambdaSG"]
    state = deployment.state()
    assert all(s[0] != STACK for s in state["stacks"])
    assert EXTRACTOR not in state["functions"]
    assert REPORTER not in state["functions"]
    assert not state["log groups"]
    assert not state["tables"]
    assert state["repositories"] == before["repositories"], "images kept"
    assert state["parameters"] == before["parameters"], "database settings kept"

    deployer.run("--destroy", "--purge", "--yes", settings=prefix).check()
    state = deployment.state()
    assert not state["repositories"]
    assert not [p for p in state["parameters"] if p[0].startswith("/cafe-next/")]
    assert "/cafe/dbPassword" in {p[0] for p in state["parameters"]}, "another prefix: kept"


def test_every_call_deploy_sh_made_is_allowed_by_the_deployer_policy(
    deployment: Deployment,
) -> None:
    """infra/deployer-policy.json covers the AWS CLI calls of every run above (first deploy,
    rerun, dry run, --update-code, --replay-failures, a stack with given roles, --destroy)."""
    from support.policy import cli_actions, policy_allows

    calls = deployment.deployer.aws_calls()
    actions = {action for call in calls for action in cli_actions(call[1], call[2])}
    assert len(actions) > 30, sorted(actions)
    assert not [a for a in sorted(actions) if not policy_allows(a)]


# --- bad settings and refusals: a clear error before anything is created -----------------------


@pytest.fixture
def empty_region(moto_endpoint: str, tmp_path: Path) -> Iterator[tuple[Deployer, Network]]:
    """A region holding only the lab's network; afterwards it must hold nothing more."""
    region = "eu-west-3"
    with moto_lambda_for_images(moto_endpoint):
        network = Network.create(moto_endpoint, region)
        try:
            before = region_state(moto_endpoint, region, STACK)
            yield Deployer(moto_endpoint, region, tmp_path), network
            assert region_state(moto_endpoint, region, STACK) == before, "something was created"
        finally:
            network.delete(moto_endpoint, region)


def assert_nothing_built(deployer: Deployer) -> None:
    assert not [c for c in deployer.docker_calls() if c[0] in {"push", "login"} or "build" in c]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PRIVATE_SUBNET_IDS": ""}, "bad setting: PRIVATE_SUBNET_IDS: not set"),
        ({"REPORT_EMAIL": "owners@example"}, "bad setting: REPORT_EMAIL: 'owners@example' is not"),
        ({"EXTRACTOR_TIMEOUT": "3"}, "bad setting: EXTRACTOR_TIMEOUT: '3' must be 10 to 885"),
        (
            {"EXTRACTOR_TIMEOUT": "60", "REPORTER_TIMEOUT": "70"},
            "REPORTER_TIMEOUT: 70 is too short for EXTRACTOR_TIMEOUT 60: the reporter waits for "
            "the extractor, then needs about 15 s of its own (SSM, DynamoDB, SNS): set it to at "
            "least 75",
        ),
        ({"TIMEOUT": "30"}, "TIMEOUT is no longer read: set EXTRACTOR_TIMEOUT"),
        ({"DB_SSL_MODE": "verify-full"}, "DB_SSL_MODE: 'verify-full' must be one of: VERIFY_ID"),
        ({"DB_URL": "mysql://db.example.com/cafe"}, "DB_URL: 'mysql://db.example.com/cafe' must"),
        ({"REPORTER_ROLE_ARN": "role with spaces"}, "REPORTER_ROLE_ARN: 'role with spaces' is"),
        ({"STACK_NAME": "a" * 32}, "STACK_NAME: '" + "a" * 32 + "' must be letters"),
        ({"DB_PASSWORD": ""}, "set DB_PASSWORD (environment or deploy.env) and retry"),
    ],
    ids=[
        "no subnets",
        "malformed email",
        "short extractor timeout",
        "reporter timeout below extractor + 15",
        "the old TIMEOUT",
        "ssl mode",
        "database url",
        "role",
        "long stack name",
        "no password",
    ],
)
def test_bad_setting_stops_before_anything_is_created(
    empty_region: tuple[Deployer, Network], change: dict[str, str], message: str
) -> None:
    deployer, network = empty_region
    settings = {**network.settings(), **DB_SETTINGS, **change}
    run = deployer.run(settings=settings)
    assert run.returncode == 1, run.output
    assert message in run.stderr
    assert "nothing was changed" in run.stderr
    assert_nothing_built(deployer)


def test_without_a_settings_file_the_error_says_to_copy_the_example(tmp_path: Path) -> None:
    run = Deployer("http://127.0.0.1:9", REGION, tmp_path).run()  # never reaches AWS
    assert run.returncode == 1
    assert "VPC_ID: not set" in run.stderr
    assert f"copy deploy.env.example to {DEPLOY_SH.parent}/deploy.env" in run.stderr


def test_missing_credentials_stop_before_anything_is_created(
    empty_region: tuple[Deployer, Network],
) -> None:
    deployer, network = empty_region
    env = deployer.env({**network.settings(), **DB_SETTINGS}, credentials=False)
    run = deployer.run(env=env)
    assert run.returncode == 1
    assert "no usable AWS credentials for eu-west-3" in run.stderr
    assert "aws configure" in run.stderr


def test_an_sso_profile_without_a_session_is_told_to_log_in(
    empty_region: tuple[Deployer, Network],
) -> None:
    deployer, network = empty_region
    config = deployer.workdir / "sso-config"
    config.write_text(
        "[profile cafe]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = eu-west-3\nsso_account_id = 123456789012\nsso_role_name = Deployer\n"
    )
    env = deployer.env({**network.settings(), **DB_SETTINGS}, credentials=False)
    env |= {"AWS_PROFILE": "cafe", "AWS_CONFIG_FILE": str(config)}
    run = deployer.run(env=env)
    assert run.returncode == 1
    assert "run 'aws sso login --profile cafe', then retry" in run.stderr
    assert "aws configure" not in run.stderr


def test_missing_docker_stops_before_anything_is_created(
    empty_region: tuple[Deployer, Network], tmp_path: Path
) -> None:
    deployer, network = empty_region
    env = deployer.env({**network.settings(), **DB_SETTINGS})
    # Without the stand-in docker, and without a real one: most machines have /usr/bin/docker,
    # so the system's commands come from a directory that links all of them but docker.
    system = tmp_path / "system-bin"
    system.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for tool in Path(directory).iterdir():
            if tool.name != "docker" and not (system / tool.name).exists():
                (system / tool.name).symlink_to(tool)
    env["PATH"] = ":".join(
        system.as_posix() if part in ("/usr/bin", "/bin") else part
        for part in env["PATH"].split(":")[1:]
    )
    run = deployer.run(env=env)
    assert run.returncode == 1
    assert "docker is not on PATH" in run.stderr


# Least-privilege policies for roles made by hand, as README's "Bring your own IAM roles" says.
_EXTRACTOR = {
    "Effect": "Allow",
    "Action": [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ],
    "Resource": "*",
}
_REPORTER = {
    "Effect": "Allow",
    "Action": [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameters",
        "lambda:InvokeFunction",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sns:Publish",
        "sqs:SendMessage",
    ],
    "Resource": "*",
}
_SCHEDULER = {
    "Effect": "Allow",
    "Action": ["lambda:InvokeFunction", "sqs:SendMessage"],
    "Resource": "*",
}


def _role(iam: Any, name: str, principal: dict[str, str], statement: dict[str, Any]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_role_policy(RoleName=name, PolicyName="cafe", PolicyDocument=json.dumps(policy))
    return str(arn)


@contextmanager
def roles_in(endpoint: str, *roles: tuple[str, dict[str, str], dict[str, Any]]) -> Iterator[Any]:
    """Roles made by hand for one test (IAM is global: not named like the shared deployment's)."""
    iam = client("iam", endpoint, "eu-west-3")
    for name, principal, statement in roles:
        _role(iam, name, principal, statement)
    try:
        yield iam
    finally:
        for name, _, _ in roles:
            iam.delete_role_policy(RoleName=name, PolicyName="cafe")
            iam.delete_role(RoleName=name)


@pytest.mark.parametrize(
    ("roles", "settings", "message"),
    [
        (
            [("cafeReporterRole", SCHEDULER_TRUST, _REPORTER)],
            {"REPORTER_ROLE_ARN": "cafeReporterRole"},
            "REPORTER_ROLE_ARN: role cafeReporterRole does not trust lambda.amazonaws.com "
            "(its trust policy lets scheduler.amazonaws.com assume it)",
        ),
        (
            [],
            {"EXTRACTOR_ROLE_ARN": "cafeExtractorRole"},
            "EXTRACTOR_ROLE_ARN: role cafeExtractorRole does not exist in account 123456789012",
        ),
        (
            [("cafeReporterRole", LAMBDA_TRUST, {**_REPORTER, "Action": ["sns:Publish"]})],
            {"REPORTER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/cafeReporterRole"},
            "REPORTER_ROLE_ARN: role cafeReporterRole does not allow dynamodb:GetItem, "
            "dynamodb:PutItem, dynamodb:UpdateItem on arn:aws:dynamodb:eu-west-3:123456789012:"
            "table/cafe-sales-report-DeliveryTable-EXAMPLE",
        ),
    ],
    ids=["trusts the wrong service", "does not exist", "lacks the delivery table"],
)
def test_a_given_role_that_cannot_serve_is_refused_before_anything_is_pushed(
    empty_region: tuple[Deployer, Network],
    moto_endpoint: str,
    roles: list[tuple[str, dict[str, str], dict[str, Any]]],
    settings: dict[str, str],
    message: str,
) -> None:
    deployer, network = empty_region
    with roles_in(moto_endpoint, *roles):
        run = deployer.run(settings={**network.settings(), **DB_SETTINGS, **settings})
    assert run.returncode == 1, run.output
    assert message in run.stderr
    assert "nothing was changed" in run.stderr
    assert_nothing_built(deployer)


def test_a_deployer_who_may_not_create_roles_is_told_which_settings_to_fill(
    empty_region: tuple[Deployer, Network], moto_endpoint: str
) -> None:
    """As in the lab's accounts: iam:CreateRole is denied (the simulator says so)."""
    deployer, network = empty_region
    iam = client("iam", moto_endpoint, "eu-west-3")
    iam.create_user(UserName="student")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName="student", PolicyName="lab", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="student")["AccessKey"]
    try:
        with roles_in(moto_endpoint, ("cafeExtractorRole", LAMBDA_TRUST, _EXTRACTOR)):
            env = deployer.env({**network.settings(), **DB_SETTINGS})
            env |= {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                "EXTRACTOR_ROLE_ARN": "cafeExtractorRole",
            }
            run = deployer.run(env=env)
    finally:
        iam.delete_access_key(UserName="student", AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName="student", PolicyName="lab")
        iam.delete_user(UserName="student")
    assert run.returncode == 1, run.output
    assert "you may not create IAM roles here (iam:CreateRole denied)" in run.stderr
    assert "set REPORTER_ROLE_ARN SCHEDULER_ROLE_ARN to existing roles" in run.stderr
    assert_nothing_built(deployer)


@pytest.mark.parametrize("owner", ["cafe-old", None], ids=["another stack's", "hand-made"])
def test_a_function_with_the_stacks_name_is_never_deleted_when_another_stack_owns_it(
    empty_region: tuple[Deployer, Network], moto_endpoint: str, owner: str | None
) -> None:
    deployer, network = empty_region
    lam = client("lambda", moto_endpoint, "eu-west-3")
    tags = {"aws:cloudformation:stack-name": owner} if owner else {}
    with roles_in(moto_endpoint, ("handMade", LAMBDA_TRUST, _REPORTER)):
        lam.create_function(
            FunctionName=REPORTER,
            Role=f"arn:aws:iam::{ACCOUNT}:role/handMade",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            Runtime="python3.12",
            Handler="x.handler",
            Tags=tags,
        )
        try:
            run = deployer.run(settings={**network.settings(), **DB_SETTINGS})
        finally:
            lam.delete_function(FunctionName=REPORTER)
    assert run.returncode == 1, run.output
    if owner:
        assert (
            f"function {REPORTER} belongs to stack cafe-old: update that stack with --stack-name "
            "cafe-old, or choose another STACK_NAME (its functions get other names); do not "
            "delete it"
        ) in run.stderr
        assert "delete-function" not in run.stderr
    else:
        assert f"aws lambda delete-function --function-name {REPORTER}" in run.stderr
    assert_nothing_built(deployer)


def test_a_stack_whose_rollback_failed_gets_the_way_out_and_the_first_failure(
    empty_region: tuple[Deployer, Network], moto_endpoint: str
) -> None:
    deployer, network = empty_region
    cfn = client("cloudformation", moto_endpoint, "eu-west-3")
    cfn.create_stack(StackName=STACK, TemplateBody="Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    inject_stack_state(
        "eu-west-3",
        STACK,
        "UPDATE_ROLLBACK_FAILED",
        [
            (STACK, "UPDATE_IN_PROGRESS", "User Initiated"),
            ("ReporterFunction", "UPDATE_FAILED", "Image manifest not found"),
            ("ExtractorFunction", "UPDATE_FAILED", "Resource update cancelled"),
            ("ReporterFunction", "UPDATE_FAILED", "role was deleted by hand"),
            (STACK, "UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update"),
        ],
    )
    try:
        run = deployer.run(settings={**network.settings(), **DB_SETTINGS})
    finally:
        cfn.delete_stack(StackName=STACK)
        for queue in client("sqs", moto_endpoint, "eu-west-3").list_queues().get("QueueUrls", []):
            client("sqs", moto_endpoint, "eu-west-3").delete_queue(QueueUrl=queue)
    assert run.returncode == 1
    err = run.stderr
    # The cause first, then the later failures, and the cancellations (consequences) last.
    cause = err.index("first failure (the cause): ")
    assert err.index("ReporterFunction  UPDATE_FAILED  Image manifest not found") > cause
    assert err.index("then: ") > err.index("Image manifest not found")
    assert err.index("cancelled because of the above: ") > err.index("role was deleted by hand")
    assert err.index("Resource update cancelled") > err.index("cancelled because of the above")
    assert f"aws cloudformation continue-update-rollback --stack-name {STACK}" in err
    assert "--resources-to-skip" in err
    assert_nothing_built(deployer)


def test_destroy_waits_for_a_deletion_under_way_and_says_why(
    empty_region: tuple[Deployer, Network], moto_endpoint: str
) -> None:
    """A deletion already under way (another terminal, a Ctrl-C) is followed to its end."""
    deployer, _ = empty_region
    cfn = client("cloudformation", moto_endpoint, "eu-west-3")
    cfn.create_stack(StackName=STACK, TemplateBody="Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    inject_stack_state("eu-west-3", STACK, "DELETE_IN_PROGRESS")
    process = subprocess.Popen(
        [str(DEPLOY_SH), "--destroy", "--yes"],
        env=deployer.env(),
        cwd=deployer.workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = ""
        while "waiting for CloudFormation" not in seen:
            line = process.stdout.readline()
            assert line, f"deploy.sh ended before waiting:\n{seen}"
            seen += line
        time.sleep(3)
        assert process.poll() is None, "it keeps waiting while the stack is being deleted"
        cfn.delete_stack(StackName=STACK)  # CloudFormation finishes
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, seen + out
    assert "already being deleted; wait for it" in seen
    assert "Lambda releases the extractor's network interfaces" in seen
    assert "stack cafe-sales-report deleted" in out
    assert "delete-stack" not in deployer.aws_log.read_text(), "not asked to delete twice"


PROMPT = re.compile(rb"(/cafe/db[A-Za-z]+|\(not shown\)|again, to confirm): $")


def _run_in_terminal(deployer: Deployer, env: dict[str, str], answers: list[str]) -> str:
    """deploy.sh in a pseudo-terminal, typing each answer when a prompt ends with ': '."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [str(DEPLOY_SH)], env=env, cwd=deployer.workdir, stdin=child, stdout=child, stderr=child
    )
    os.close(child)
    output, pending = b"", list(answers)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if pending and PROMPT.search(output):
                os.write(main, pending.pop(0).encode() + b"\n")
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(main)
    return output.decode(errors="replace")


def test_typed_answers_are_checked_like_the_settings(
    empty_region: tuple[Deployer, Network], moto_endpoint: str
) -> None:
    """In a terminal, missing values are asked for; a URL typed as a host is refused."""
    deployer, network = empty_region
    env = deployer.env({**network.settings(), "FAKE_DOCKER_FAIL": "login"})
    password = "typed-s3cret"
    answers = [
        "mysql://db.example.com/cafe",
        "db.example.com",
        "cafe",
        "reporter",
        password,
        password,
    ]
    try:
        output = _run_in_terminal(deployer, env, answers)
        ssm = client("ssm", moto_endpoint, "eu-west-3")
        stored = ssm.get_parameter(Name="/cafe/dbUrl")["Parameter"]["Value"]
    finally:
        remove_deployment(moto_endpoint, "eu-west-3", ("/cafe",))
    assert "it must be the database host name (e.g. the RDS endpoint)" in output
    assert stored == "db.example.com"
    assert "docker login to" in output, "it stopped at the login, as the stand-in was told"
    assert password not in output


def test_unknown_setting_in_env_file_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("VPC_ID=vpc-0123456789abcdef0\nREPORT_EMIAL=owners@example.com\n")
    deployer = Deployer("http://127.0.0.1:9", REGION, tmp_path)  # never reached
    run = deployer.run("--env-file", str(env_file))
    assert run.returncode == 1
    assert "line 2: unknown setting REPORT_EMIAL" in run.stderr
    env_file.write_text("TIMEOUT=60\n")
    run = deployer.run("--env-file", str(env_file))
    assert "line 1: TIMEOUT is no longer read: set EXTRACTOR_TIMEOUT" in run.stderr


def test_help_and_usage_errors(tmp_path: Path) -> None:
    deployer = Deployer("http://127.0.0.1:9", REGION, tmp_path)
    shown = deployer.run("--help").check()
    for flag in ("--update-code", "--destroy", "--purge", "--dry-run", "--invoke-now"):
        assert flag in shown.stdout
    for flag in ("--overwrite-db-settings", "--replay-failures", "--retain-resources"):
        assert flag in shown.stdout
    assert f"{DEPLOY_SH.parent}/deploy.env" in shown.stdout
    assert "./deploy.env" not in shown.stdout
    wrong = deployer.run("--frobnicate")
    assert (wrong.returncode, "unknown option: --frobnicate" in wrong.stderr) == (2, True)
    assert deployer.run("--purge").returncode == 2
    assert deployer.run("--retain-resources", "LambdaSG").returncode == 2
