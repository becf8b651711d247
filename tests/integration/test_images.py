"""The two function images, checked without a Docker engine (none runs here or in CI).

What stands in for `docker build` and `docker run`: hadolint and shellcheck on the files; the
Dockerfile read for what each target starts and holds; the build context checked against
.dockerignore; each image's /var/task rebuilt with the Dockerfile's own install script and each
function started from it alone, with the image's CMD, under the Runtime-API harness.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.aws import Inbox
from support.database import Server, extractor_event, reader_user
from support.dockerfile import DOCKERFILE, Dockerfile
from support.dockerignore import in_context, patterns
from support.images import FUNCTIONS, function_process, install, task_roots
from support.runtime_api import LambdaProcess
from support.ssm import db_parameters, reporter_env
from support.tools import REPO_ROOT, hadolint_binary, run, shellcheck_binary

TARGETS = [
    ("extractor", "extractor"),
    ("extractor-local", "extractor"),
    ("reporter", "reporter"),
    ("reporter-local", "reporter"),
]
ENTRYPOINT = "/usr/local/bin/lambda-entrypoint"
SCRIPTS = [
    REPO_ROOT / "docker" / "entrypoint.sh",
    REPO_ROOT / "docker" / "install.sh",
    *sorted((REPO_ROOT / "docker" / "localstack" / "ready.d").glob("*.sh")),
    # The containers suite's engine setup and its stand-in images' entry points; CI's script.
    *sorted((REPO_ROOT / "tests" / "containers").rglob("*.sh")),
    REPO_ROOT / ".ci" / "run",
]
ELF_MACHINE = {"amd64": 62, "arm64": 183}  # e_machine: EM_X86_64, EM_AARCH64


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read()


# ---- lint ----------------------------------------------------------------------------------------


# The images' Dockerfile and the containers suite's stand-ins'.
DOCKERFILES = [DOCKERFILE, *sorted((REPO_ROOT / "tests" / "containers").rglob("Dockerfile"))]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_passes_hadolint_with_no_finding(tmp_path: Path, path: Path) -> None:
    # A config of the developer's own (~/.config/hadolint.yaml, ./.hadolint.yaml) must not
    # silence a rule here: run from an empty directory with an empty home.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = run([hadolint_binary(), "--no-color", "-f", "json", path], env=env, cwd=tmp_path)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_explains_every_hadolint_ignore(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    ignores = [i for i, line in enumerate(lines) if line.startswith("# hadolint ignore=")]
    for i in ignores:
        reason = lines[i - 1] if i else ""
        why = f"line {i + 1}: say why on the comment line above `{lines[i]}`"
        assert reason.startswith("#"), why
        assert "hadolint ignore" not in reason, why


def test_shell_scripts_pass_shellcheck() -> None:
    result = run([shellcheck_binary(), "--norc", "--format=gcc", *SCRIPTS])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shell_scripts_are_executable_and_strict(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(script, os.X_OK), f"chmod +x {script.relative_to(REPO_ROOT)}"


# ---- what each target is -----------------------------------------------------------------------


@pytest.mark.parametrize(("target", "function"), TARGETS)
def test_image_target_runs_the_handler_through_the_entry_script(
    dockerfile: Dockerfile, target: str, function: str
) -> None:
    assert dockerfile.last(target, "ENTRYPOINT").json_args() == [ENTRYPOINT]
    assert dockerfile.last(target, "CMD").json_args() == [f"{function}.handler.lambda_handler"]
    assert dockerfile.last(target, "WORKDIR").args == "/var/task"
    assert dockerfile.last(target, "USER").args.split(":")[0] not in ("root", "0")
    env = dockerfile.env(target)
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm", dockerfile.base_image(target))
    [entry] = [
        c for c in dockerfile.instructions(target, "COPY") if c.args.endswith(f" {ENTRYPOINT}")
    ]
    assert entry.flags["from"] == "scripts"
    # The scripts stage gives it its mode, whatever mode the checkout gave docker/entrypoint.sh.
    [install] = [i.args for i in dockerfile.stage("scripts").instructions if i.keyword == "RUN"]
    assert f"install -D -m 0755 docker/entrypoint.sh /out{ENTRYPOINT}" in install
    assert entry.args == f"/out{ENTRYPOINT} {ENTRYPOINT}"


@pytest.mark.parametrize(("target", "function"), TARGETS)
def test_image_task_root_comes_from_the_install_script_only(
    dockerfile: Dockerfile, target: str, function: str
) -> None:
    into_task = [
        c for c in dockerfile.instructions(target, "COPY") if c.args.endswith(" /var/task")
    ]
    assert [c.flags.get("from") for c in into_task] == [f"{function}-deps", f"{function}-code"]
    deps, code = dockerfile.stage(f"{function}-deps"), dockerfile.stage(f"{function}-code")
    # Requirements before code: an edit to the code reuses the dependency layer.
    assert [c.args for c in deps.instructions if c.keyword == "COPY"] == [
        f"{function}/requirements.txt {function}/"
    ]
    [deps_run] = [i.args for i in deps.instructions if i.keyword == "RUN"]
    assert f"docker/install.sh deps {function} /var/task" in deps_run
    assert 'TARGET_ARCH="$TARGETARCH"' in deps_run
    [code_run] = [i.args for i in code.instructions if i.keyword == "RUN"]
    assert code_run == f"bash docker/install.sh code {function} /var/task"


@pytest.mark.parametrize(("target", "function"), TARGETS)
def test_image_final_stages_run_nothing(dockerfile: Dockerfile, target: str, function: str) -> None:
    # Every RUN happens in the builder, on the build machine's platform: a cross-platform build
    # (--platform linux/arm64 on an amd64 machine) then needs no emulation.
    assert dockerfile.instructions(target, "RUN") == []
    # BuildKit's build platform; the classic builder sets no BUILDPLATFORM, and "linux" is its own.
    assert dockerfile.stage("builder").platform == "${BUILDPLATFORM:-linux}"


def test_dockerfile_builds_with_the_classic_builder_too() -> None:
    # Docker Engine 20.10 builds with the classic builder by default, and its BuildKit's builtin
    # frontend is old: nothing newer than both may appear (the containers suite builds with it).
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert not re.search(r"<<-?[\"']?[A-Z]", text), "heredocs need BuildKit"
    allowed = {"FROM": {"platform"}, "COPY": {"from"}}
    for stage in Dockerfile.read().stages:
        # A global TARGETARCH is empty under 20.10's frontend and unset under the classic one.
        assert "TARGETARCH" not in stage.base, stage.base
        assert stage.platform in (None, "${BUILDPLATFORM:-linux}"), stage.platform
        for instruction in stage.instructions:
            # e.g. ADD --checksum, COPY --chmod/--link, RUN --mount: BuildKit only.
            extra = set(instruction.flags) - allowed.get(instruction.keyword, set())
            assert not extra, f"line {instruction.line}: {instruction.keyword} --{extra}"


def test_image_emulator_is_the_pinned_release_asset_for_each_architecture(
    dockerfile: Dockerfile,
) -> None:
    rie = dockerfile.stage("rie")
    args = dict(i.args.partition("=")[::2] for i in rie.instructions if i.keyword == "ARG")
    assert re.fullmatch(r"v\d+\.\d+", args["RIE_VERSION"])
    assert args["RIE_RELEASES"] == (
        "https://github.com/aws/aws-lambda-runtime-interface-emulator/releases/download"
    )
    assert "TARGETARCH" in args  # declared in the stage: BuildKit sets it there
    [fetch] = [i.args for i in rie.instructions if i.keyword == "RUN"]
    # The assets whose SHA-256 GitHub publishes (the bare `aws-lambda-rie` has another digest).
    for arch, asset in (("AMD64", "aws-lambda-rie-x86_64"), ("ARM64", "aws-lambda-rie-arm64")):
        assert re.fullmatch(r"[0-9a-f]{64}", args[f"RIE_SHA256_{arch}"])
        assert f'asset={asset} && sha256="$RIE_SHA256_{arch}"' in fetch
    assert 'python3 docker/download.py --sha256 "$sha256" --mode 0755' in fetch
    assert '"$RIE_RELEASES/$RIE_VERSION/$asset" /out/aws-lambda-rie' in fetch
    # The classic builder sets no TARGETARCH: the emulator is then the build machine's.
    assert 'arch="${TARGETARCH:-$(uname -m)}"' in fetch


def test_image_extractor_carries_the_rds_ca_bundle(dockerfile: Dockerfile) -> None:
    certs = dockerfile.stage("extractor-certs")
    [arg] = [i.args for i in certs.instructions if i.keyword == "ARG"]
    assert arg == (
        "RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    )
    [fetch] = [i.args for i in certs.instructions if i.keyword == "RUN"]
    assert fetch.startswith("python3 docker/download.py --pem --mode 0644")
    assert fetch.endswith('"$RDS_CA_BUNDLE_URL" /var/task/certs/rds-global-bundle.pem')
    copies = {
        target: [c.args for c in dockerfile.instructions(target, "COPY") if "certs" in c.args]
        for target, _ in TARGETS
    }
    bundle = ["/var/task/certs /var/task/certs"]
    assert copies == {
        "extractor": bundle,
        "extractor-local": bundle,
        "reporter": [],
        "reporter-local": [],
    }


def test_image_report_target_is_the_reporter_plus_the_one_shot(dockerfile: Dockerfile) -> None:
    assert dockerfile.chain("report")[-2].name == "reporter"
    assert dockerfile.last("report", "ENTRYPOINT").json_args() == [
        "python",
        "/opt/cafe/report_once.py",
    ]
    assert dockerfile.last("report", "CMD").json_args() == []
    assert dockerfile.env("report")["PYTHONPATH"] == "/var/task"  # the reporter's boto3
    [script] = [c for c in dockerfile.stage("report").instructions if c.keyword == "COPY"]
    assert (script.flags["from"], script.args) == (
        "scripts",
        "/out/opt/cafe/report_once.py /opt/cafe/report_once.py",
    )
    [install] = [i.args for i in dockerfile.stage("scripts").instructions if i.keyword == "RUN"]
    assert "install -D -m 0644 docker/report_once.py /out/opt/cafe/report_once.py" in install


@pytest.mark.parametrize(("target", "function"), TARGETS)
def test_image_only_local_targets_carry_the_emulator(
    dockerfile: Dockerfile, target: str, function: str
) -> None:
    emulator = [c for c in dockerfile.instructions(target, "COPY") if c.flags.get("from") == "rie"]
    if target.endswith("-local"):
        assert [c.args for c in emulator] == ["/out/aws-lambda-rie /usr/local/bin/aws-lambda-rie"]
        assert dockerfile.chain(target)[-2].name == function  # the production image, plus it
    else:
        assert emulator == []


def test_image_build_context_sends_only_what_the_build_copies(dockerfile: Dockerfile) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # Files git does not list but a checkout may hold: none may reach the builder.
    probes = [".env", "deploy.env", ".venv/bin/python", "extractor/__pycache__/db.cpython-312.pyc"]
    rules = patterns()
    sent = {path for path in [*listed, *probes] if in_context(path, rules)}

    sources = [
        source
        for s in dockerfile.stages
        for c in s.instructions
        if c.keyword == "COPY" and "from" not in c.flags
        for source in c.args.split()[:-1]
    ]
    for source in sources:
        if source.endswith("/"):
            package = {p for p in listed if p.startswith(source) and p.endswith(".py")}
            assert package, source
            assert package <= sent, f"{source}: {sorted(package - sent)} left out"
        else:
            assert source in sent, f"{source} is not in the build context"
    assert {p for p in sent if not p.startswith(("docker/", "extractor/", "reporter/"))} == set()
    assert not [p for p in sent if "__pycache__" in p or p.endswith(".pyc")]


# ---- the task roots, rebuilt and run --------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_image_task_root_holds_only_the_function_and_its_dependencies(function: str) -> None:
    root = task_roots()[function]
    names = {p.name for p in root.iterdir()}
    other = next(f for f in FUNCTIONS if f != function)
    assert function in names
    assert other not in names
    assert "awslambdaric" in names
    package = {p.relative_to(REPO_ROOT / function) for p in (REPO_ROOT / function).rglob("*.py")}
    package = {p for p in package if "__pycache__" not in p.parts}
    installed = {p.relative_to(root / function) for p in (root / function).rglob("*")}
    assert {p for p in installed if "__pycache__" not in p.parts} == package
    everything = list(root.rglob("*"))
    assert not [p for p in everything if p.name in ("tests", "test", ".cache")]
    # Bytecode compiled at install time (Lambda's /var/task is read-only), for this Python only,
    # as unchecked-hash .pyc files that imports trust without reading the source's mtime.
    tag = sys.implementation.cache_tag
    for module in package:
        pyc = root / function / module.parent / "__pycache__" / f"{module.stem}.{tag}.pyc"
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, pyc
    assert all(p.parent.name == "__pycache__" for p in everything if p.suffix == ".pyc")
    dependency = "pymysql" if function == "extractor" else "boto3"
    assert list((root / dependency / "__pycache__").glob(f"*.{tag}.pyc"))
    assert not (root / "bin").exists()
    if function == "extractor":
        assert not names & {"boto3", "botocore", "s3transfer"}, "the extractor never calls AWS"
    else:
        assert {"boto3", "botocore"} <= names


def test_image_code_is_readable_by_any_user_from_a_umask_077_checkout(tmp_path: Path) -> None:
    # A checkout made under umask 077 has 0600 files and 0700 directories; Lambda runs the image
    # as a user of its own, who must still read every module.
    checkout = tmp_path / "checkout"
    for name in (
        "docker/install.sh",
        *(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "extractor").rglob("*.py")),
    ):
        target = checkout / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_bytes((REPO_ROOT / name).read_bytes())
        target.chmod(0o600)
    (checkout / "extractor" / "requirements.txt").write_text("")
    result = run(
        ["bash", checkout / "docker" / "install.sh", "code", "extractor", tmp_path / "task"],
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr
    installed = list((tmp_path / "task" / "extractor").rglob("*"))
    assert installed
    for path in installed:
        mode = path.stat().st_mode
        wanted = 0o755 if path.is_dir() else 0o644
        assert mode & 0o777 == wanted, f"{path}: {oct(mode & 0o777)}"


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_image_dependencies_install_as_wheels_for_each_architecture(
    dockerfile: Dockerfile, tmp_path: Path, arch: str
) -> None:
    # What the build stage does for --platform linux/<arch>: wheels only (there is no compiler),
    # for the image's Python, whatever machine builds it.
    version = re.match(r"python:(3\.\d+)", dockerfile.base_image("extractor"))[1]  # type: ignore[index]
    for function in FUNCTIONS:
        install(function, tmp_path / function, arch=arch, python_version=version, step="deps")
    libraries = list(tmp_path.rglob("*.so"))
    assert any(p.name.startswith("runtime_client.") for p in libraries)  # awslambdaric's
    for library in libraries:
        # Built for the image's Python, or for the stable ABI every CPython 3 loads.
        assert f"cpython-{version.replace('.', '')}" in library.name or ".abi3." in library.name
        header = library.read_bytes()[:20]
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], library


@pytest.fixture(scope="module")
def extractor() -> Iterator[LambdaProcess]:
    with function_process("extractor") as process:
        process.wait_ready()
        yield process


def test_image_extractor_answers_from_its_task_root(
    extractor: LambdaProcess, server: Server, cafe_db: str
) -> None:
    today = datetime.now(UTC).date()
    with reader_user(server, cafe_db) as (user, password):
        event = extractor_event(server, cafe_db, today, dbUser=user, dbPassword=password)
        invocation = extractor.invoke(event)
    assert invocation.function_error is None, invocation.payload
    assert invocation.payload["statusCode"] == 200
    assert invocation.payload["reportDate"] == today.isoformat()
    assert invocation.payload["body"], "db/seed.sql promises orders today"


def test_image_reporter_publishes_from_its_task_root(
    extractor: LambdaProcess, server: Server, cafe_db: str, moto_endpoint: str
) -> None:
    with (
        reader_user(server, cafe_db) as (user, password),
        db_parameters(moto_endpoint, server, cafe_db, user, password) as prefix,
        Inbox.create(moto_endpoint) as inbox,
    ):
        env = reporter_env(moto_endpoint, extractor.endpoint_url, prefix, inbox.topic_arn)
        # As under the real emulator: a failed invocation would carry no X-Amz-Function-Error.
        with function_process("reporter", env=env, function_error_header=False) as reporter:
            reporter.wait_ready()
            invocation = reporter.invoke({})
            output = reporter.output()
        assert "errorMessage" not in invocation.payload, invocation.payload
        assert invocation.payload["statusCode"] == 200
        assert invocation.payload["products"] > 0
        [envelope] = inbox.messages(wait=2)
        assert envelope["MessageId"] == invocation.payload["messageId"]
        assert password not in output + extractor.output()
