"""The stack template, deploy.sh and the deployer policy, checked where moto cannot run them.

cfn-lint and shellcheck run as tests. moto's CloudFormation skips AWS::Scheduler::Schedule,
AWS::CloudWatch::Alarm and AWS::Lambda::EventInvokeConfig, drops PackageType, Architectures and
LoggingConfig from functions and a table's TTL and recovery settings, keeps a security group's
default egress, and reports no Outputs for stacks made by change sets: those parts are asserted
here, in the template itself, as CloudFormation will read it. The deployer policy is checked
against every AWS CLI call written in deploy.sh and against what CloudFormation's handlers for
each resource type in the template may call.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from support.deploy import (
    DEPLOY_SH,
    FAKE_DOCKER_DIR,
    RECORDING_AWS_DIR,
    TEMPLATE,
    as_list,
    iam_statements,
    load_template,
)
from support.policy import (
    DOCKER_PUSH_ACTIONS,
    IMAGE_READ_ACTIONS,
    cli_actions,
    deploy_sh_calls,
    handler_permissions,
    policy_actions,
    policy_allows,
    policy_statements,
)
from support.tools import cfn_lint_binary, shellcheck_binary

# Lambda creates and removes the extractor's network interfaces with these; AWS requires "*".
ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
DEFAULT_STACK = "cafe-sales-report"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def deploy_sh_default(setting: str) -> str:
    """The default deploy.sh gives a setting (`SETTING=${SETTING:-default}`)."""
    found = re.search(rf"^\s*{setting}=\$\{{{setting}:-([^}}]*)\}}$", DEPLOY_SH.read_text(), re.M)
    assert found, setting
    return found.group(1)


def test_template_passes_cfn_lint_with_informational_checks() -> None:
    done = subprocess_run([str(cfn_lint_binary()), "--include-checks", "I", "--", str(TEMPLATE)])
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def subprocess_run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "script",
    [DEPLOY_SH, FAKE_DOCKER_DIR / "docker", RECORDING_AWS_DIR / "aws"],
    ids=["deploy.sh", "docker", "aws"],
)
def test_script_parses_and_passes_shellcheck(script: Any) -> None:
    parsed = subprocess_run(["bash", "-n", str(script)])
    assert (parsed.returncode, parsed.stderr) == (0, "")
    checked = subprocess_run([str(shellcheck_binary()), "--severity=style", str(script)])
    assert (checked.returncode, checked.stdout) == (0, "")


def test_every_checkov_finding_left_is_justified_next_to_its_resource(
    template: dict[str, Any],
) -> None:
    """checkov 3.3.30 (run by hand: it is not a dev dependency) fails 13 checks on this
    template; each is skipped on its resource with the reason, so checkov reports 0 failed."""
    skips = {
        (name, skip["id"]): skip["comment"]
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert len(skips) == 13
    assert all(len(comment) > 40 for comment in skips.values()), skips


def test_schedule_runs_the_reporter_at_20_cafe_time_with_retries_and_dead_letters(
    template: dict[str, Any],
) -> None:
    (schedule,) = resources(template, "AWS::Scheduler::Schedule").values()
    parameters = template["Parameters"]
    assert schedule["Name"] == {"Fn::Sub": "${AWS::StackName}-daily-report"}
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert parameters["ScheduleExpression"]["Default"] == "cron(0 20 ? * MON-SAT *)"
    # Scheduler evaluates the cron in this zone, so 20:00 stays 20:00 across DST changes.
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert parameters["ScheduleTimezone"]["Default"] == "Europe/London"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["ReporterFunction", "Arn"]}
    assert target["RoleArn"] == {
        "Fn::If": [
            "CreatesSchedulerRole",
            {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
            {"Ref": "SchedulerRoleArn"},
        ]
    }
    assert json.loads(target["Input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert 3600 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}


def test_scheduler_role_may_only_invoke_the_reporter_and_dead_letter(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["SchedulerRole"]
    assert role["Condition"] == "CreatesSchedulerRole"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    granted = {
        (statement["Action"], json.dumps(statement["Resource"]))
        for name, statement in iam_statements(template)
        if name == "SchedulerRole"
    }
    assert granted == {
        ("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": ["ReporterFunction", "Arn"]})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})),
    }


def test_reporter_settings_follow_the_stack(template: dict[str, Any]) -> None:
    env = template["Resources"]["ReporterFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        "topicARN": {"Ref": "ReportTopic"},
        # The extractor's name, whatever the stack makes it.
        "EXTRACTOR_FUNCTION_NAME": {"Ref": "ExtractorFunction"},
        "SSM_PREFIX": {"Ref": "SsmPrefix"},
        "REPORT_TIMEZONE": {"Ref": "ScheduleTimezone"},
        "DELIVERY_TABLE": {"Ref": "DeliveryTable"},
    }


@pytest.mark.parametrize(
    ("logical", "name", "image", "timeout"),
    [
        (
            "ExtractorFunction",
            "salesAnalysisReportDataExtractor",
            "ExtractorImageUri",
            "ExtractorTimeout",
        ),
        ("ReporterFunction", "salesAnalysisReport", "ReporterImageUri", "ReporterTimeout"),
    ],
)
def test_functions_are_images_by_digest_named_from_the_stack(
    template: dict[str, Any], logical: str, name: str, image: str, timeout: str
) -> None:
    function = template["Resources"][logical]["Properties"]
    # The default stack keeps the lab's names; another stack's names start with its own.
    assert function["FunctionName"] == {
        "Fn::If": ["UsesLabNames", name, {"Fn::Sub": f"${{AWS::StackName}}-{name}"}]
    }
    log_group = logical.replace("Function", "LogGroup")
    assert template["Resources"][log_group]["Properties"]["LogGroupName"] == {
        "Fn::If": [
            "UsesLabNames",
            f"/aws/lambda/{name}",
            {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{name}"},
        ]
    }
    assert function["PackageType"] == "Image"
    assert function["Code"] == {"ImageUri": {"Ref": image}}
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert function["Timeout"] == {"Ref": timeout}
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group}}
    pattern = re.compile(template["Parameters"][image]["AllowedPattern"])
    repo = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/cafe-sales-report-reporter"
    assert pattern.fullmatch(f"{repo}@sha256:{'a1' * 32}")
    assert not pattern.fullmatch(f"{repo}:latest"), (
        "a tag would not change when a new image is pushed"
    )


def test_the_lab_names_belong_to_the_default_stack_only(template: dict[str, Any]) -> None:
    """deploy.sh derives the same names by the same rule, and defaults to the same stack."""
    assert template["Conditions"]["UsesLabNames"] == {
        "Fn::Equals": [{"Ref": "AWS::StackName"}, DEFAULT_STACK]
    }
    assert f"readonly DEFAULT_STACK={DEFAULT_STACK}\n" in DEPLOY_SH.read_text()
    script = DEPLOY_SH.read_text()
    assert "EXTRACTOR_FUNCTION=$STACK_NAME-salesAnalysisReportDataExtractor" in script
    assert "REPORTER_FUNCTION=$STACK_NAME-salesAnalysisReport\n" in script
    # Nothing else has a fixed physical name: CloudFormation names it after the stack.
    physical = {"Name", "GroupName", "TableName", "QueueName", "TopicName", "RoleName", "AlarmName"}
    named = {
        name
        for name, resource in template["Resources"].items()
        if physical & resource["Properties"].keys()
    }
    assert named == {"DailyReportSchedule"}
    assert "GroupName" not in template["Resources"]["LambdaSG"]["Properties"], (
        "a fixed name makes any replacement of the group fail"
    )


def test_timeouts_leave_the_reporter_its_own_15_seconds(template: dict[str, Any]) -> None:
    """The reporter waits for the extractor, then needs ~15 s of its own (SSM, DynamoDB, SNS)."""
    extractor, reporter = (
        template["Parameters"][p] for p in ("ExtractorTimeout", "ReporterTimeout")
    )
    assert (extractor["Default"], reporter["Default"]) == (30, 45)  # the lab's 30 for the extractor
    assert reporter["Default"] >= extractor["Default"] + 15
    assert reporter["MinValue"] >= extractor["MinValue"] + 15
    assert extractor["MaxValue"] + 15 <= reporter["MaxValue"] == 900
    assert "readonly REPORTER_OWN_SECONDS=15\n" in DEPLOY_SH.read_text()
    assert deploy_sh_default("EXTRACTOR_TIMEOUT") == str(extractor["Default"])
    assert deploy_sh_default("REPORTER_TIMEOUT") == str(reporter["Default"])
    assert "Timeout" not in template["Parameters"], "one timeout for both no longer fits"


def test_a_failed_day_is_retried_then_kept_not_dropped(template: dict[str, Any]) -> None:
    (config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert config["FunctionName"] == {"Ref": "ReporterFunction"}
    assert config["Qualifier"] == "$LATEST"
    # Lambda's retries come about 1 and 3 minutes later: a database reboot or failover.
    assert config["MaximumRetryAttempts"] == 2
    # Throttled events may wait: a late report still reports the day it was due.
    assert config["MaximumEventAgeInSeconds"] == 21600
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["ReportFailureQueue", "Arn"]}}
    }
    for queue in ("ReportFailureQueue", "ScheduleDeadLetterQueue"):
        properties = template["Resources"][queue]["Properties"]
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert properties["SqsManagedSseEnabled"] is True
    # Lambda sends the record with the reporter's own role, to that queue only.
    sends = [
        (role, s["Resource"])
        for role, s in iam_statements(template)
        if s["Action"] == "sqs:SendMessage"
    ]
    assert ("ReporterRole", {"Fn::GetAtt": ["ReportFailureQueue", "Arn"]}) in sends
    assert [r for r, _ in sends].count("ReporterRole") == 1


def test_alarms_fire_for_each_new_failed_day(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = {
        (a["Namespace"], a["MetricName"], a["Statistic"], json.dumps(a["Dimensions"]))
        for a in alarms.values()
    }

    def queue(name: str) -> str:
        return json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": [name, "QueueName"]}}])

    reporter = json.dumps([{"Name": "FunctionName", "Value": {"Ref": "ReporterFunction"}}])
    # Messages *sent* (each failed day once), never messages visible (ALARM for 14 days).
    assert watched == {
        ("AWS/SQS", "NumberOfMessagesSent", "Sum", queue("ReportFailureQueue")),
        ("AWS/SQS", "NumberOfMessagesSent", "Sum", queue("ScheduleDeadLetterQueue")),
        ("AWS/Lambda", "AsyncEventsDropped", "Sum", reporter),
        ("AWS/Lambda", "DestinationDeliveryFailures", "Sum", reporter),
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        )
        # A quiet period returns it to OK, ready to notify the next failed day.
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["Period"] == 300
        if alarm["Namespace"] == "AWS/SQS":
            # An idle queue's metrics arrive up to 15 minutes late: any 1 in the last 30 minutes.
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (6, 1)
        else:
            assert alarm["EvaluationPeriods"] == 1


def test_the_delivery_table(template: dict[str, Any]) -> None:
    table = template["Resources"]["DeliveryTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TableName" not in table, "named after the stack by CloudFormation"


def test_reporter_may_only_get_put_and_update_items_of_its_own_table(
    template: dict[str, Any],
) -> None:
    dynamodb = [(role, s) for role, s in iam_statements(template) if "dynamodb" in json.dumps(s)]
    assert [(role, s["Action"], s["Resource"]) for role, s in dynamodb] == [
        (
            "ReporterRole",
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["DeliveryTable", "Arn"]},
        )
    ]


@pytest.mark.parametrize(
    ("parameter", "logical", "function"),
    [
        ("ExtractorRoleArn", "ExtractorRole", "ExtractorFunction"),
        ("ReporterRoleArn", "ReporterRole", "ReporterFunction"),
        ("SchedulerRoleArn", "SchedulerRole", None),
    ],
)
def test_a_given_role_replaces_the_one_the_stack_would_create(
    template: dict[str, Any], parameter: str, logical: str, function: str | None
) -> None:
    condition = f"Creates{logical}"
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": parameter}, ""]}
    assert template["Resources"][logical]["Condition"] == condition
    assert template["Parameters"][parameter]["Default"] == ""
    if function:
        assert template["Resources"][function]["Properties"]["Role"] == {
            "Fn::If": [condition, {"Fn::GetAtt": [logical, "Arn"]}, {"Ref": parameter}]
        }
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/salesAnalysisReportRole")
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/service-role/x")
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "salesAnalysisReportRole"), "deploy.sh makes it an ARN"
    # Nothing else refers to a role that may not exist.
    others = [
        name
        for name, resource in template["Resources"].items()
        if name not in {logical, function, "DailyReportSchedule"}
        and json.dumps(resource).count(f'"{logical}"')
    ]
    assert others == []


def test_lab_defaults(template: dict[str, Any]) -> None:
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    assert defaults["MemorySize"] == 128
    assert defaults["ExtractorTimeout"] == 30
    assert defaults["Architecture"] == "x86_64"
    assert defaults["SsmPrefix"] == "/cafe"
    assert defaults["DatabasePort"] == 3306
    assert 1 <= defaults["ExtractorReservedConcurrency"] <= 5
    assert template["Parameters"]["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"


@pytest.mark.parametrize(
    ("address", "accepted"),
    [("", True), ("owner@example.com", True), ("owner@example", False), ("a b@example.com", False)],
)
def test_email_parameters_accept_empty_or_an_address(
    template: dict[str, Any], address: str, accepted: bool
) -> None:
    for parameter in ("ReportEmail", "AlarmEmail"):
        pattern = template["Parameters"][parameter]["AllowedPattern"]
        assert bool(re.fullmatch(pattern, address)) is accepted


def test_lambda_sg_only_reaches_the_database(template: dict[str, Any]) -> None:
    sg = template["Resources"]["LambdaSG"]["Properties"]
    assert sg["VpcId"] == {"Ref": "VpcId"}
    assert sg["SecurityGroupEgress"] == [
        {
            "Description": "MySQL to the database",
            "IpProtocol": "tcp",
            "FromPort": {"Ref": "DatabasePort"},
            "ToPort": {"Ref": "DatabasePort"},
            "DestinationSecurityGroupId": {"Ref": "DatabaseSecurityGroupId"},
        }
    ]
    extractor = template["Resources"]["ExtractorFunction"]["Properties"]
    assert extractor["VpcConfig"] == {
        "SubnetIds": {"Ref": "PrivateSubnetIds"},
        "SecurityGroupIds": [{"Fn::GetAtt": ["LambdaSG", "GroupId"]}],
    }
    reporter = template["Resources"]["ReporterFunction"]["Properties"]
    assert "VpcConfig" not in reporter, "the reporter needs SSM and SNS, which the VPC cannot reach"


def test_no_wildcard_resource_except_the_network_interfaces(template: dict[str, Any]) -> None:
    for role, statement in iam_statements(template):
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":
            assert (role, statement["Sid"]) == ("ExtractorRole", "ManageVpcNetworkInterfaces")
            assert set(as_list(statement["Action"])) == ENI_ACTIONS
        else:
            assert "*" not in json.dumps(statement["Resource"]).replace(":*", "").replace("/*", "")


def test_password_decryption_is_bound_to_ssm_and_the_prefix(template: dict[str, Any]) -> None:
    (decrypt,) = (s for _, s in iam_statements(template) if s["Action"] == "kms:Decrypt")
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}},
        "StringLike": {
            "kms:EncryptionContext:PARAMETER_ARN": {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
                ":parameter${SsmPrefix}/*"
            }
        },
    }


def test_email_subscriptions_are_optional(template: dict[str, Any]) -> None:
    for topic, parameter, condition in (
        ("ReportTopic", "ReportEmail", "HasReportEmail"),
        ("AlarmTopic", "AlarmEmail", "HasAlarmEmail"),
    ):
        subscription = template["Resources"][topic]["Properties"]["Subscription"]
        assert subscription == {
            "Fn::If": [
                condition,
                [{"Protocol": "email", "Endpoint": {"Ref": parameter}}],
                {"Ref": "AWS::NoValue"},
            ]
        }
        assert template["Conditions"][condition] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]
        }


def test_outputs_say_how_to_run_a_report_now(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "ExtractorFunctionName",
        "ReporterFunctionName",
        "ReportTopicArn",
        "DeliveryTableName",
        "ReportFailureQueueUrl",
        "ScheduleName",
    } <= outputs.keys()
    command = outputs["RunReportNow"]["Value"]["Fn::Sub"]
    # The CLI v1 the project pins rejects --cli-binary-format; fileb:// works with v1 and v2.
    assert command.startswith(
        "echo '{}' | AWS_MAX_ATTEMPTS=1 aws lambda invoke --region ${AWS::Region}"
        " --function-name ${ReporterFunction}"
    )
    assert "--cli-binary-format" not in command
    assert "--payload fileb:///dev/stdin" in command
    assert "--cli-read-timeout 0" in command


def test_env_example_lists_every_setting_deploy_sh_reads() -> None:
    script = DEPLOY_SH.read_text()
    block = re.search(r"readonly SETTINGS=\(\n(.*?)\n\)", script, re.DOTALL)
    assert block, "deploy.sh lists its settings in readonly SETTINGS=(...)"
    known = set(block.group(1).split())
    example = (DEPLOY_SH.parent / "deploy.env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert listed == known - {"DB_PASSWORD"}, "the password is asked for, not kept in the file"


# --- the deployer's policy (infra/deployer-policy.json) ---------------------------------------

# What CloudFormation's handlers list for a type but this template never makes them do, and why.
NOT_NEEDED = {
    "AWS::Lambda::Function": {
        "elasticfilesystem:DescribeMountTargets": "no file system is mounted",
        "s3files:ListMountTargets": "no file system is mounted",
        "s3:GetObject": "the code is an image in ECR, not a zip in S3",
        "s3:GetObjectVersion": "the code is an image in ECR, not a zip in S3",
        "kms:CreateGrant": "no customer key encrypts the environment",
        "kms:Decrypt": "no customer key encrypts the environment",
        "kms:DescribeKey": "no customer key encrypts the environment",
        "kms:Encrypt": "no customer key encrypts the environment",
        "kms:GenerateDataKey": "no customer key encrypts the environment",
        "lambda:AssociateRuntimeAlias": "no runtime alias",
        "lambda:PassCapacityProvider": "no capacity provider",
        "lambda:GetCodeSigningConfig": "no code signing (images)",
        "lambda:PutFunctionCodeSigningConfig": "no code signing (images)",
        "lambda:DeleteFunctionCodeSigningConfig": "no code signing (images)",
        "lambda:GetLayerVersion": "no layers (images)",
        "lambda:PublishVersion": "no versions (no SnapStart)",
        "lambda:PutFunctionRecursionConfig": "recursion detection left at its default",
        "lambda:PutFunctionScalingConfig": "no scaling config",
        "lambda:PutRuntimeManagementConfig": "no runtime management (images)",
    },
    "AWS::DynamoDB::Table": {
        "dynamodb:AssociateTableReplica": "no global-table replicas",
        "dynamodb:CreateTableReplica": "no global-table replicas",
        "iam:CreateServiceLinkedRole": "only for replicas and auto scaling",
        "dynamodb:BatchWriteItem": "item writes of replicas and imports; none here",
        "dynamodb:DeleteItem": "item writes of replicas and imports; none here",
        "dynamodb:GetItem": "item reads of replicas and imports; none here",
        "dynamodb:PutItem": "item writes of replicas and imports; none here",
        "dynamodb:Query": "item reads of replicas and imports; none here",
        "dynamodb:Scan": "item reads of replicas and imports; none here",
        "dynamodb:UpdateItem": "item writes of replicas and imports; none here",
        "dynamodb:DeleteResourcePolicy": "no resource policy",
        "dynamodb:PutResourcePolicy": "no resource policy",
        "dynamodb:DescribeImport": "no import from S3",
        "dynamodb:ImportTable": "no import from S3",
        "s3:GetObject": "no import from S3",
        "s3:GetObjectMetadata": "no import from S3",
        "s3:ListBucket": "no import from S3",
        "logs:CreateLogGroup": "import logging only",
        "logs:CreateLogStream": "import logging only",
        "logs:DescribeLogGroups": "import logging only",
        "logs:DescribeLogStreams": "import logging only",
        "logs:PutLogEvents": "import logging only",
        "logs:PutRetentionPolicy": "import logging only",
        "dynamodb:EnableKinesisStreamingDestination": "no Kinesis streaming",
        "dynamodb:DisableKinesisStreamingDestination": "no Kinesis streaming",
        "dynamodb:UpdateKinesisStreamingDestination": "no Kinesis streaming",
        "kinesis:DescribeStream": "no Kinesis streaming",
        "kinesis:PutRecords": "no Kinesis streaming",
        "dynamodb:UpdateContributorInsights": "contributor insights stay off",
        "kms:Decrypt": "the AWS managed key, not a customer key",
        "kms:Encrypt": "the AWS managed key, not a customer key",
        "kms:ListAliases": "the AWS managed key, not a customer key",
        "kms:RevokeGrant": "the AWS managed key, not a customer key",
    },
    "AWS::SNS::Topic": {
        "iam:GetRole": "no delivery-status logging role",
        "iam:PassRole": "no delivery-status logging role",
        "sns:PutDataProtectionPolicy": "no data protection policy",
    },
    "AWS::IAM::Role": {
        "iam:AttachRolePolicy": "no managed policy is attached",
        "iam:DetachRolePolicy": "no managed policy is attached",
        "iam:PutRolePermissionsBoundary": "no permissions boundary",
        "iam:DeleteRolePermissionsBoundary": "no permissions boundary",
        "iam:UpdateRole": "no maximum session duration set",
    },
    "AWS::Logs::LogGroup": {
        "firehose:TagDeliveryStream": "no log delivery",
        "logs:CreateLogDelivery": "no log delivery",
        "s3:REST.PUT.OBJECT": "no log delivery",
        "logs:AssociateKmsKey": "no customer key",
        "logs:DisassociateKmsKey": "no customer key",
        "logs:PutDataProtectionPolicy": "no data protection policy",
        "logs:DeleteDataProtectionPolicy": "no data protection policy",
        "logs:PutIndexPolicy": "no field index policy",
        "logs:DeleteIndexPolicy": "no field index policy",
        "logs:PutResourcePolicy": "no resource policy",
        "logs:DeleteResourcePolicy": "no resource policy",
        "logs:PutBearerTokenAuthentication": "no bearer-token ingestion",
        "logs:PutLogGroupDeletionProtection": "deletion protection stays off",
    },
    "AWS::EC2::SecurityGroup": {
        "ec2:DescribeInstances": "only to find instances still using a group it deletes",
    },
}


def template_types(template: dict[str, Any]) -> set[str]:
    return {resource["Type"] for resource in template["Resources"].values()}


def test_deployer_policy_allows_every_aws_call_written_in_deploy_sh() -> None:
    calls = deploy_sh_calls()
    assert len(calls) > 30, calls
    needed = {action for call in calls for action in cli_actions(*call)}
    needed |= DOCKER_PUSH_ACTIONS | IMAGE_READ_ACTIONS
    assert sorted(a for a in needed if not policy_allows(a)) == []


def test_deployer_policy_covers_what_cloudformation_does_for_each_resource_type(
    template: dict[str, Any],
) -> None:
    missing = {
        kind: sorted(
            p
            for p in handler_permissions(kind)
            if p not in NOT_NEEDED.get(kind, {}) and not policy_allows(p)
        )
        for kind in template_types(template)
    }
    assert {kind: found for kind, found in missing.items() if found} == {}
    # Every reason given is about a permission a handler in the template still lists.
    for kind, reasons in NOT_NEEDED.items():
        assert set(reasons) <= handler_permissions(kind), kind


def test_deployer_policy_grants_nothing_more(template: dict[str, Any]) -> None:
    used = {action for call in deploy_sh_calls() for action in cli_actions(*call)}
    used |= DOCKER_PUSH_ACTIONS | IMAGE_READ_ACTIONS
    for kind in template_types(template):
        used |= handler_permissions(kind) - set(NOT_NEEDED.get(kind, {}))
    used |= {"iam:PassRole"}  # the roles given to the functions and the schedule
    assert sorted(policy_actions() - used) == []


def test_deployer_policy_names_the_default_stacks_resources(template: dict[str, Any]) -> None:
    """Only read-only look-ups (and KMS, through DynamoDB only) apply to "*"."""
    for statement in policy_statements():
        assert statement["Effect"] == "Allow"
        resources_ = as_list(statement["Resource"])
        if resources_ == ["*"]:
            if statement["Sid"] == "DeliveryTableEncryptionWithTheAwsManagedKey":
                assert statement["Condition"] == {
                    "StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}
                }
                continue
            assert statement["Sid"] == "LookUpAccountNetworkAndQuotasReadOnly"
            assert all(re.match(r"[a-z0-9]+:(Describe|Get|List)", a) for a in statement["Action"])
        elif statement["Sid"] == "PassRolesToTheFunctionsAndTheScheduleOnly":
            assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == [
                "lambda.amazonaws.com",
                "scheduler.amazonaws.com",
            ]
        elif statement["Sid"] not in {
            "CheckRolesReadOnly",
            "ExtractorSecurityGroupAndDatabaseRule",
        }:
            assert all(
                DEFAULT_STACK in r or "salesAnalysisReport" in r or r.endswith("parameter/cafe/*")
                for r in resources_
            ), statement["Sid"]
