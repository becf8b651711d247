"""docker-compose.yml, resolved by the real Compose v2 binary (no Docker engine needed for that).

`docker compose config` validates the file and prints it with every variable substituted; the
tests read that and check what the local stack relies on. Compose runs with the repository as
its project directory, none of the developer's COMPOSE_*/DOCKER_* settings, and an explicit env
file (an empty one: the defaults), so a local .env cannot change the outcome.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.tools import REPO_ROOT, clean_env, compose_binary, run

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
HOOK = REPO_ROOT / "docker" / "localstack" / "ready.d" / "01-cafe.sh"
# ${NAME}, ${NAME:-default} or ${NAME-default}, but not $${NAME} (escaped for the container).
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?::?-([^}]*))?\}")
FUNCTIONS = ("extractor", "reporter")
SERVICES = {"db", "localstack", "extractor", "reporter", "report"}


def compose_variables() -> dict[str, str]:
    """Every variable the compose file reads, with its default."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    return {m[1]: m[2] or "" for m in _VARIABLE.finditer(text)}


def compose(tmp_path: Path, *args: str, env_file: Path | None = None) -> Any:
    """Run the Compose binary on docker-compose.yml; return the completed process."""
    if env_file is None:
        env_file = tmp_path / "empty.env"
        env_file.write_text("")
    return run(
        [
            compose_binary(),
            "--project-directory",
            REPO_ROOT,
            "--file",
            COMPOSE_FILE,
            "--env-file",
            env_file,
            *args,
        ],
        env=clean_env({"HOME": str(tmp_path)}, drop=list(compose_variables())),
        cwd=tmp_path,
    )


def resolved(tmp_path: Path, env_file: Path | None = None) -> dict[str, Any]:
    result = compose(tmp_path, "config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved(tmp_path_factory.mktemp("compose"))


def hook_default(variable: str) -> str:
    match = re.search(rf"\$\{{{variable}:-([^}}]+)\}}", HOOK.read_text(encoding="utf-8"))
    assert match, f"the hook has no default for {variable}"
    return match[1]


def test_compose_config_is_valid_and_warns_of_nothing(tmp_path: Path) -> None:
    result = compose(tmp_path, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # e.g. no "the attribute `version` is obsolete", no unset variable


def test_compose_file_has_no_version_key() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert "version" not in document
    assert document["name"] == "cafe-sales-report"


def test_compose_runs_the_five_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) == SERVICES


def test_compose_long_running_services_have_healthchecks(config: dict[str, Any]) -> None:
    services = config["services"]
    db = " ".join(services["db"]["healthcheck"]["test"])
    assert "mysql --protocol=tcp -h 127.0.0.1" in db  # not the init-time socket-only server
    assert "SELECT 1 FROM product" in db  # the seed has loaded
    localstack = " ".join(services["localstack"]["healthcheck"]["test"])
    assert "http://127.0.0.1:4566/_localstack/init/ready" in localstack
    assert '"ERROR"' in localstack  # a failed hook keeps it unhealthy
    for function in FUNCTIONS:
        check = services[function]["healthcheck"]["test"]
        assert check[:2] == ["CMD", "python"]
        assert '("127.0.0.1", 8080)' in check[-1]
    assert "healthcheck" not in services["report"]


def test_compose_starts_each_service_once_what_it_needs_is_healthy(config: dict[str, Any]) -> None:
    def conditions(service: str) -> dict[str, str]:
        depends = config["services"][service].get("depends_on", {})
        return {name: dep["condition"] for name, dep in depends.items()}

    healthy = "service_healthy"
    assert conditions("db") == {}
    assert conditions("localstack") == {}
    assert conditions("extractor") == {"db": healthy}
    assert conditions("reporter") == {"localstack": healthy, "extractor": healthy}
    assert conditions("report") == {
        "db": healthy,
        "localstack": healthy,
        "extractor": healthy,
        "reporter": healthy,
    }


def test_compose_functions_build_the_local_images(config: dict[str, Any]) -> None:
    targets = {"extractor": "extractor-local", "reporter": "reporter-local", "report": "report"}
    for service, target in targets.items():
        build = config["services"][service]["build"]
        assert build == {
            "context": str(REPO_ROOT),
            "dockerfile": "docker/Dockerfile",
            "target": target,
        }


def test_compose_reporter_is_configured_only_through_its_environment(
    config: dict[str, Any],
) -> None:
    assert config["services"]["reporter"]["environment"] == {
        "topicARN": "arn:aws:sns:us-east-1:000000000000:SalesReportTopic",
        "AWS_ENDPOINT_URL_SNS": "http://localstack:4566",
        "AWS_ENDPOINT_URL_SSM": "http://localstack:4566",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://localstack:4566",
        "DELIVERY_TABLE": "cafe-sales-report-deliveries",
        "AWS_ENDPOINT_URL_LAMBDA": "http://extractor:8080",
        "EXTRACTOR_FUNCTION_NAME": "function",
        "REPORT_TIMEZONE": "UTC",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert config["services"]["reporter"].get("entrypoint") is None  # the image's entry script


def test_compose_extractor_gets_no_aws_settings(config: dict[str, Any]) -> None:
    extractor = config["services"]["extractor"]
    assert not extractor.get("environment")  # settings come in each invocation's payload
    assert extractor.get("entrypoint") is None
    assert extractor.get("command") is None


def test_compose_names_match_what_the_localstack_hook_creates(config: dict[str, Any]) -> None:
    services = config["services"]
    topic = services["reporter"]["environment"]["topicARN"]
    assert topic.rsplit(":", 1)[1] == hook_default("CAFE_TOPIC_NAME")
    assert services["report"]["environment"]["INBOX_QUEUE_NAME"] == hook_default("CAFE_INBOX_QUEUE")
    assert hook_default("CAFE_SSM_PREFIX") == "/cafe"  # the reporter's default SSM_PREFIX
    table = services["reporter"]["environment"]["DELIVERY_TABLE"]
    assert table == hook_default("CAFE_DELIVERY_TABLE")
    assert services["localstack"]["environment"]["CAFE_DELIVERY_TABLE"] == table
    assert "dynamodb" in services["localstack"]["environment"]["SERVICES"].split(",")
    # The local MySQL's certificate is self-signed: not verified, by an explicit setting.
    assert services["localstack"]["environment"]["CAFE_DB_SSL_MODE"] == "PREFERRED"
    # The hook's settings are the database's, as the extractor reaches it (by service name).
    db, hook = services["db"]["environment"], services["localstack"]["environment"]
    assert hook["CAFE_DB_HOST"] == "db"
    assert hook["CAFE_DB_NAME"] == db["MYSQL_DATABASE"]
    assert hook["CAFE_DB_USER"] == db["MYSQL_USER"]
    assert hook["CAFE_DB_PASSWORD"] == db["MYSQL_PASSWORD"]
    assert hook["CAFE_REPORT_EMAIL"] == "owner@cafe.example"


def test_compose_publishes_ports_on_localhost_only(config: dict[str, Any]) -> None:
    published = {
        (name, port["host_ip"], port["published"], port["target"])
        for name, service in config["services"].items()
        for port in service.get("ports", [])
    }
    assert published == {
        ("db", "127.0.0.1", "3307", 3306),
        ("localstack", "127.0.0.1", "4566", 4566),
        ("extractor", "127.0.0.1", "9001", 8080),
        ("reporter", "127.0.0.1", "9002", 8080),
    }


def test_compose_localstack_is_pinned_and_takes_a_token(config: dict[str, Any]) -> None:
    localstack = config["services"]["localstack"]
    assert localstack["image"] == "localstack/localstack:4.14.0"
    assert localstack["environment"]["LOCALSTACK_AUTH_TOKEN"] == ""
    services = set(localstack["environment"]["SERVICES"].split(","))
    assert {"sns", "ssm", "sqs", "ses"} <= services
    [hooks] = localstack["volumes"]
    assert hooks["type"] == "bind"
    assert hooks["source"] == str(HOOK.parent)
    assert hooks["target"] == "/etc/localstack/init/ready.d"
    assert hooks["read_only"] is True


def test_compose_db_is_mysql_seeded_from_db_seed_sql(config: dict[str, Any]) -> None:
    db = config["services"]["db"]
    assert db["image"] == "mysql:8.4"
    data, seed = db["volumes"]
    assert (data["type"], data["source"], data["target"]) == ("volume", "db-data", "/var/lib/mysql")
    assert "db-data" in config["volumes"]
    assert seed["type"] == "bind"
    assert seed["source"] == str(REPO_ROOT / "db" / "seed.sql")
    assert re.fullmatch(r"/docker-entrypoint-initdb\.d/[^/]+\.sql", seed["target"])
    assert seed["read_only"] is True
    assert seed.get("bind", {}).get("create_host_path", False) is False


def test_compose_report_runs_the_one_shot_against_the_reporter(config: dict[str, Any]) -> None:
    report = config["services"]["report"]
    # The script comes with its image (the Dockerfile's report target), not from a bind mount
    # that the image's user may be unable to read (a checkout under umask 077).
    assert report.get("entrypoint") is None
    assert not report.get("volumes")
    assert report["environment"]["REPORTER_URL"] == (
        "http://reporter:8080/2015-03-31/functions/function/invocations"
    )
    assert report["environment"]["AWS_ENDPOINT_URL_SQS"] == "http://localstack:4566"
    assert report["restart"] == "no"
    assert not report.get("ports")


def test_compose_asks_nothing_of_docker_engine_20_10_it_cannot_do(config: dict[str, Any]) -> None:
    # Compose refuses healthcheck.start_interval on an engine older than 25; the README states
    # Engine 20.10 as the minimum. Nothing else here needs a newer engine than that.
    assert "start_interval" not in json.dumps(yaml.safe_load(COMPOSE_FILE.read_text("utf-8")))
    for name, service in config["services"].items():
        check = service.get("healthcheck", {})
        assert "start_interval" not in check, name
        if check:  # the stack reaches its report in seconds, not a 30 s default interval
            assert check["interval"] in ("2s", "3s"), name


def test_compose_env_file_overrides_reach_the_services(tmp_path: Path) -> None:
    env_file = tmp_path / "override.env"
    env_file.write_text(
        "LOCALSTACK_IMAGE=localstack/localstack:9.9.9\n"
        "LOCALSTACK_AUTH_TOKEN=ls-token-for-the-test\n"
        "MYSQL_PASSWORD=another-password\n"
        "REPORT_TIMEZONE=Europe/Paris\n"
        "REPORTER_PORT=19002\n"
    )
    services = resolved(tmp_path, env_file)["services"]
    assert services["localstack"]["image"] == "localstack/localstack:9.9.9"
    assert services["localstack"]["environment"]["LOCALSTACK_AUTH_TOKEN"] == "ls-token-for-the-test"
    assert services["db"]["environment"]["MYSQL_PASSWORD"] == "another-password"
    assert services["localstack"]["environment"]["CAFE_DB_PASSWORD"] == "another-password"
    assert services["reporter"]["environment"]["REPORT_TIMEZONE"] == "Europe/Paris"
    assert services["reporter"]["ports"][0]["published"] == "19002"


def test_env_example_documents_every_variable_with_its_default(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    documented = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert documented == compose_variables()
    # Copying .env.example to .env changes nothing.
    assert resolved(tmp_path, ENV_EXAMPLE) == config
