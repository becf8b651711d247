"""deploy.sh, run for real against moto's server over HTTP, then read back through the AWS API.

A stand-in `docker` (tests/support/fake_docker) comes first on PATH: it records its arguments
and, on push, registers a small image manifest in moto's ECR, so the digests deploy.sh resolves
and the functions' image URIs are real ECR answers (moto checks the digest exists).

The tests of one deployment share it and run in file order: first deployment, an unchanged
second run, a dry run, then the changes (--update-code, a settings change, --destroy).
Schedules and alarms are not created by moto: test_template.py checks them in the template.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.deploy import (
    ACCOUNT,
    EXTRACTOR,
    REPORTER,
    REPOSITORIES,
    Deployer,
    Network,
    Run,
    client,
    load_template,
    moto_lambda_for_images,
    queue_lambda_result,
    region_state,
    remove_deployment,
    role_policy,
)

REGION = "eu-west-2"
STACK = "cafe-sales-report"
EXISTING_PASSWORD = "pre-existing-secret"
NEW_PASSWORD = 'Fresh!pa$$ "word" http://not-a-url'
DB_SETTINGS = {
    "DB_URL": "cafe-db.abc123.eu-west-2.rds.amazonaws.com",
    "DB_NAME": "cafe",
    "DB_USER": "reporter",
    "DB_PASSWORD": "must-not-replace-the-existing-one",
}


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
        remove_deployment(endpoint, REGION, STACK, ("/cafe", "/cafe-next"))
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
        settings = {
            **network.settings(),
            **DB_SETTINGS,
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


def test_first_run_creates_repositories_with_scan_on_push_and_lifecycle(
    deployment: Deployment,
) -> None:
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


def test_first_run_keeps_the_existing_password_and_creates_the_other_settings(
    deployment: Deployment,
) -> None:
    ssm = deployment.client("ssm")
    names = [f"/cafe/{key}" for key in ("dbUrl", "dbName", "dbUser", "dbPassword")]
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
        assert function["Configuration"]["Timeout"] == 30
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
    assert {sid: (s["Action"], s["Resource"]) for sid, s in statements.items()} == {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            arn.format("logs", "log-group:/aws/lambda/salesAnalysisReport:*"),
        ),
        "ReadDatabaseSettings": ("ssm:GetParameters", arn.format("ssm", "parameter/cafe/*")),
        "DecryptDatabasePasswordThroughSsm": ("kms:Decrypt", arn.format("kms", "key/*")),
        "InvokeExtractor": ("lambda:InvokeFunction", arn.format("lambda", f"function:{EXTRACTOR}")),
        "PublishReport": ("sns:Publish", resources["ReportTopic"]),
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


def test_log_groups_have_retention(deployment: Deployment) -> None:
    groups = {name: days for name, days, _ in deployment.after_first["log groups"]}
    assert groups == {f"/aws/lambda/{EXTRACTOR}": 30, f"/aws/lambda/{REPORTER}": 30}


def test_second_run_changes_nothing(deployment: Deployment) -> None:
    assert deployment.after_second == deployment.after_first
    assert "stack cafe-sales-report was already up to date" in deployment.second.stdout
    assert "Creating ECR repository" not in deployment.second.stdout
    assert "Writing the database settings" not in deployment.second.stdout


def test_dry_run_changes_nothing_and_prints_the_plan(deployment: Deployment) -> None:
    assert deployment.after_dry_run == deployment.after_second
    calls = deployment.deployer.docker_calls()[deployment.docker_calls_before_dry_run :]
    assert all(c in (["version"], ["buildx", "version"]) for c in calls), calls
    out = deployment.dry_run.stdout
    assert "Dry run: nothing was changed" in out
    parameters = dict(
        line.strip().split("=", 1) for line in out.split("stack parameters:")[1].splitlines()[1:18]
    )
    assert set(parameters) == set(load_template()["Parameters"]), "deploy.sh passes every one"
    # The environment beats deploy.env, which beats the defaults.
    assert parameters["ReportEmail"] == "environment@example.com"
    assert parameters["LogRetentionDays"] == "14"
    assert parameters["PrivateSubnetIds"] == ",".join(deployment.network.subnet_ids)
    assert parameters["ScheduleExpression"] == "cron(0 20 ? * MON-SAT *)"


def test_password_is_never_printed(deployment: Deployment) -> None:
    runs = (deployment.first, deployment.second, deployment.dry_run)
    for secret in (EXISTING_PASSWORD, DB_SETTINGS["DB_PASSWORD"]):
        assert all(secret not in run.output for run in runs)
        assert secret not in deployment.deployer.docker_log.read_text()


# --- changes, in order -------------------------------------------------------------------------


def test_update_code_updates_only_the_function_images(deployment: Deployment) -> None:
    before = deployment.state()
    queue_lambda_result(deployment.deployer.endpoint, REGION, {"statusCode": 200, "groups": 3})
    changed = deployment.deployer.env({"FAKE_DOCKER_REVISION": "2"})
    run = deployment.deployer.run("--update-code", "--invoke-now", env=changed).check()
    after = deployment.state()
    for name, repository in zip((EXTRACTOR, REPORTER), REPOSITORIES, strict=True):
        uri = after["functions"][name]["Code"]["ImageUri"]
        digest = deployment.image_digest(repository)
        assert uri == f"{deployment.repository_uri(repository)}@{digest}"
        assert uri != before["functions"][name]["Code"]["ImageUri"]
        assert f"Updating {name}" in run.stdout
    for unchanged in ("stacks", "stack events", "parameters", "subscriptions", "security groups"):
        assert after[unchanged] == before[unchanged], unchanged
    assert 'result: {"statusCode": 200, "groups": 3}' in run.stdout


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


def test_full_deploy_records_new_digests_and_settings(deployment: Deployment) -> None:
    """After --update-code, a settings change: a new prefix, whose password deploy.sh creates."""
    ssm = deployment.client("ssm")
    for key, setting in (("dbUrl", "DB_URL"), ("dbName", "DB_NAME"), ("dbUser", "DB_USER")):
        ssm.put_parameter(Name=f"/cafe-next/{key}", Value=DB_SETTINGS[setting], Type="String")
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
    stack = deployment.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    for name, key in ((EXTRACTOR, "ExtractorImageUri"), (REPORTER, "ReporterImageUri")):
        assert parameters[key] == after["functions"][name]["Code"]["ImageUri"]
    assert parameters["SsmPrefix"] == "/cafe-next"
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


def test_destroy_keeps_images_and_settings_unless_purged(deployment: Deployment) -> None:
    deployer, prefix = deployment.deployer, {"SSM_PREFIX": "/cafe-next"}
    refused = deployer.run("--destroy", settings=prefix)
    assert refused.returncode == 1
    assert "refusing to delete without confirmation" in refused.stderr
    assert "add --yes; nothing was changed" in refused.stderr
    before = deployment.state()
    assert any(s[0] == STACK for s in before["stacks"])

    deployer.run("--destroy", "--yes", settings=prefix).check()
    state = deployment.state()
    assert all(s[0] != STACK for s in state["stacks"])
    assert EXTRACTOR not in state["functions"]
    assert REPORTER not in state["functions"]
    assert not state["log groups"]
    assert state["repositories"] == before["repositories"], "images kept"
    assert state["parameters"] == before["parameters"], "database settings kept"

    deployer.run("--destroy", "--purge", "--yes", settings=prefix).check()
    state = deployment.state()
    assert not state["repositories"]
    assert not [p for p in state["parameters"] if p[0].startswith("/cafe-next/")]
    assert "/cafe/dbPassword" in {p[0] for p in state["parameters"]}, "another prefix: kept"


# --- bad settings: a clear error before anything is created ------------------------------------


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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PRIVATE_SUBNET_IDS": ""}, "bad setting: PRIVATE_SUBNET_IDS: not set"),
        ({"REPORT_EMAIL": "owners@example"}, "bad setting: REPORT_EMAIL: 'owners@example' is not"),
        ({"TIMEOUT": "3"}, "bad setting: TIMEOUT: '3' must be 15 to 900"),
        ({"DB_PASSWORD": ""}, "set DB_PASSWORD (environment or deploy.env) and retry"),
    ],
    ids=["no subnets", "malformed email", "short timeout", "no password"],
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
    assert not [c for c in deployer.docker_calls() if c[0] in {"push", "login"} or "build" in c]


def test_missing_credentials_stop_before_anything_is_created(
    empty_region: tuple[Deployer, Network],
) -> None:
    deployer, network = empty_region
    env = deployer.env({**network.settings(), **DB_SETTINGS}, credentials=False)
    run = deployer.run(env=env)
    assert run.returncode == 1
    assert "no usable AWS credentials for eu-west-3" in run.stderr
    assert "aws configure" in run.stderr


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


def test_unknown_setting_in_env_file_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("VPC_ID=vpc-0123456789abcdef0\nREPORT_EMIAL=owners@example.com\n")
    deployer = Deployer("http://127.0.0.1:9", REGION, tmp_path)  # never reached
    run = deployer.run("--env-file", str(env_file))
    assert run.returncode == 1
    assert "line 2: unknown setting REPORT_EMIAL" in run.stderr


def test_help_and_usage_errors(tmp_path: Path) -> None:
    deployer = Deployer("http://127.0.0.1:9", REGION, tmp_path)
    shown = deployer.run("--help").check()
    for flag in ("--update-code", "--destroy", "--purge", "--dry-run", "--invoke-now"):
        assert flag in shown.stdout
    assert "--overwrite-db-settings" in shown.stdout
    wrong = deployer.run("--frobnicate")
    assert (wrong.returncode, "unknown option: --frobnicate" in wrong.stderr) == (2, True)
    assert deployer.run("--purge").returncode == 2
