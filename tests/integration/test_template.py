"""The stack template and deploy.sh, checked where moto cannot run them.

cfn-lint and shellcheck run as tests. moto's CloudFormation skips AWS::Scheduler::Schedule and
AWS::CloudWatch::Alarm, drops PackageType, Architectures and LoggingConfig from functions, keeps
a security group's default egress, and reports no Outputs for stacks made by change sets: those
parts are asserted here, in the template itself, as CloudFormation will read it.
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
    TEMPLATE,
    as_list,
    iam_statements,
    load_template,
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


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def test_template_passes_cfn_lint_with_informational_checks() -> None:
    done = subprocess.run(
        [str(cfn_lint_binary()), "--include-checks", "I", "--", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize(
    "script", [DEPLOY_SH, FAKE_DOCKER_DIR / "docker"], ids=["deploy.sh", "docker"]
)
def test_script_parses_and_passes_shellcheck(script: Any) -> None:
    parsed = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert (parsed.returncode, parsed.stderr) == (0, "")
    checked = subprocess.run(
        [str(shellcheck_binary()), "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (checked.returncode, checked.stdout) == (0, "")


def test_schedule_runs_the_reporter_at_20_cafe_time_with_retries_and_dead_letters(
    template: dict[str, Any],
) -> None:
    (schedule,) = resources(template, "AWS::Scheduler::Schedule").values()
    parameters = template["Parameters"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert parameters["ScheduleExpression"]["Default"] == "cron(0 20 ? * MON-SAT *)"
    # Scheduler evaluates the cron in this zone, so 20:00 stays 20:00 across DST changes.
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert parameters["ScheduleTimezone"]["Default"] == "Europe/London"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["ReporterFunction", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert json.loads(target["Input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert 3600 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}


def test_scheduler_role_may_only_invoke_the_reporter_and_dead_letter(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
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


def test_reporter_day_uses_the_schedule_time_zone(template: dict[str, Any]) -> None:
    env = template["Resources"]["ReporterFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        "topicARN": {"Ref": "ReportTopic"},
        "EXTRACTOR_FUNCTION_NAME": {"Ref": "ExtractorFunction"},
        "SSM_PREFIX": {"Ref": "SsmPrefix"},
        "REPORT_TIMEZONE": {"Ref": "ScheduleTimezone"},
    }


@pytest.mark.parametrize(
    ("logical", "name", "image"),
    [
        ("ExtractorFunction", "salesAnalysisReportDataExtractor", "ExtractorImageUri"),
        ("ReporterFunction", "salesAnalysisReport", "ReporterImageUri"),
    ],
)
def test_functions_are_images_by_digest_with_json_logs(
    template: dict[str, Any], logical: str, name: str, image: str
) -> None:
    function = template["Resources"][logical]["Properties"]
    assert function["FunctionName"] == name
    assert function["PackageType"] == "Image"
    assert function["Code"] == {"ImageUri": {"Ref": image}}
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert function["Timeout"] == {"Ref": "Timeout"}
    log_group = logical.replace("Function", "LogGroup")
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group}}
    pattern = re.compile(template["Parameters"][image]["AllowedPattern"])
    repo = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/cafe-sales-report-reporter"
    assert pattern.fullmatch(f"{repo}@sha256:{'a1' * 32}")
    assert not pattern.fullmatch(f"{repo}:latest"), (
        "a tag would not change when a new image is pushed"
    )


def test_lab_defaults(template: dict[str, Any]) -> None:
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    assert defaults["MemorySize"] == 128
    assert defaults["Timeout"] == 30
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


def test_alarms_notify_the_alarm_topic(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = {
        (a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"])) for a in alarms.values()
    }
    assert watched == {
        (
            "AWS/Lambda",
            "Errors",
            json.dumps([{"Name": "FunctionName", "Value": {"Ref": "ReporterFunction"}}]),
        ),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json.dumps(
                [
                    {
                        "Name": "QueueName",
                        "Value": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]},
                    }
                ]
            ),
        ),
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"


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
        "ExtractorFunctionArn",
        "ReporterFunctionArn",
        "ReportTopicArn",
        "ScheduleName",
    } <= outputs.keys()
    command = outputs["RunReportNow"]["Value"]["Fn::Sub"]
    assert command.startswith(
        "aws lambda invoke --region ${AWS::Region} --function-name ${ReporterFunction}"
    )
    assert "--payload '{}'" in command


def test_env_example_lists_every_setting_deploy_sh_reads() -> None:
    script = DEPLOY_SH.read_text()
    block = re.search(r"readonly SETTINGS=\(\n(.*?)\n\)", script, re.DOTALL)
    assert block, "deploy.sh lists its settings in readonly SETTINGS=(...)"
    known = set(block.group(1).split())
    example = (DEPLOY_SH.parent / "deploy.env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert listed == known - {"DB_PASSWORD"}, "the password is asked for, not kept in the file"
