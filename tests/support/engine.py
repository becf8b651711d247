"""A real Docker engine for the tests: its client, and images built here from Debian's packages.

There is no image registry on the machines this runs on (every `docker pull` fails), so each
image a test needs is made locally: a root file system from Debian's packages (`mmdebstrap`),
`docker import`ed, then finished with a Dockerfile under tests/containers/. Each is tagged with a
hash of everything it is made from, so a second run on the same machine finds it and builds
nothing (CI reuses its machine). `tests/containers/engine.sh` installs and starts the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from support.tools import REPO_ROOT, clean_env

CONTAINERS = REPO_ROOT / "tests" / "containers"
STANDINS = CONTAINERS / "standins"
ENGINE_SH = CONTAINERS / "engine.sh"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The machine's own trust anchors (e.g. a TLS-inspecting proxy in front of the package
# registries): the stand-in images trust them too, or pip inside them could not reach PyPI.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
# Bump to rebuild every stand-in image once (e.g. to pick up Debian security updates).
RECIPE_VERSION = "1"
# One build per tag at a time: stand-ins are built in parallel and some share a root.
_BUILDING: dict[str, threading.Lock] = {}
_BUILDING_LOCK = threading.Lock()
_APT_LOCK = threading.Lock()  # apt-get holds the package database: one install at a time


def _lock(tag: str) -> threading.Lock:
    with _BUILDING_LOCK:
        return _BUILDING.setdefault(tag, threading.Lock())


class EngineError(RuntimeError):
    """A docker command failed; the message holds its command line and output."""


def docker_client() -> str:
    """The engine's own client (/usr/bin/docker from docker.io) if installed, else PATH's."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"


def docker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for docker and compose: none of the developer's COMPOSE_*/DOCKER_* settings
    except DOCKER_HOST, a throwaway client config (no credential helper, no context)."""
    env = clean_env(extra)
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def docker(
    *args: str | Path,
    check: bool = True,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the docker client; raise EngineError with its output if `check` and it fails."""
    command = [docker_client(), *map(str, args)]
    result = subprocess.run(
        command,
        env=docker_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input,
    )
    if check and result.returncode != 0:
        raise EngineError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def ensure_engine() -> str:
    """Install and start the engine if needed (tests/containers/engine.sh); its version."""
    result = subprocess.run(
        ["bash", str(ENGINE_SH)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise EngineError(f"no Docker engine: {result.stdout}{result.stderr}")
    return docker("version", "--format", "{{.Server.Version}}").stdout.strip()


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def image_size(tag: str) -> int:
    """The image's size in bytes, as `docker images` counts it (all layers, uncompressed)."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)


def digest(*parts: object, files: Iterable[Path] = (), root: Path = Path("/")) -> str:
    """A short hash of the parts and the files' names (under `root`), modes and contents."""
    h = hashlib.sha256(json.dumps([RECIPE_VERSION, *map(str, parts)]).encode())
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode())
        h.update(oct(path.stat().st_mode & 0o111).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def tree(directory: Path) -> list[Path]:
    """Every file under a directory (the build context of a stand-in)."""
    return [p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


@dataclass(frozen=True)
class DebianRoot:
    """A root file system from Debian's packages, imported as an image.

    `suite` (bookworm, trixie, sid), the packages on top of the `apt` variant (Essential + apt),
    the image's environment and command. The machine's local CA certificates are added.
    """

    name: str
    suite: str
    packages: Sequence[str]
    env: Mapping[str, str]
    cmd: Sequence[str] = ("bash",)
    # Shell lines run on the finished tree ("$1" is its root), e.g. to remove what a package's
    # maintainer script created.
    hooks: Sequence[str] = ()

    @property
    def tag(self) -> str:
        cas = sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []
        recipe = [self.suite, sorted(self.packages), sorted(self.env.items()), self.cmd]
        key = digest(*recipe, self.hooks, DEBIAN_MIRROR, files=cas)
        return f"cafe-standin/{self.name}:{key}"

    def ensure(self) -> str:
        """The image's tag; built (mmdebstrap + docker import) unless it exists."""
        tag = self.tag
        with _lock(tag):
            if not image_exists(tag):
                self._build(tag)
        return tag

    def _build(self, tag: str) -> None:
        with _APT_LOCK:
            if shutil.which("mmdebstrap") is None:
                install_debian_packages("mmdebstrap")
        with tempfile.TemporaryDirectory(prefix="cafe-rootfs-") as tmp:
            tarball = Path(tmp) / "rootfs.tar"
            hooks = [
                # What python:*-slim images have that Debian spells otherwise.
                'if [ -x "$1/usr/bin/python3" ]; then ln -sf /usr/bin/python3 '
                '"$1/usr/local/bin/python"; fi',
                f'if [ -d {LOCAL_CAS} ]; then cp {LOCAL_CAS}/*.crt "$1/usr/local/share/'
                'ca-certificates/" 2>/dev/null || true; fi',
                'if [ -x "$1/usr/sbin/update-ca-certificates" ]; then '
                'chroot "$1" update-ca-certificates >/dev/null; fi',
                *self.hooks,
                'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
            ]
            command = [
                "mmdebstrap",
                "--quiet",
                "--variant=apt",
                # The mirror may be a snapshot whose Release files have expired.
                '--aptopt=Acquire::Check-Valid-Until "false"',
                '--aptopt=Acquire::Check-Date "false"',
                '--aptopt=APT::Install-Recommends "false"',
                f"--include={','.join(self.packages)}",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                *[f"--customize-hook={hook}" for hook in hooks],
                self.suite,
                str(tarball),
                DEBIAN_MIRROR,
            ]
            run_checked(command, timeout=1200)
            changes = [f"ENV {k}={v}" for k, v in self.env.items()]
            changes.append(f"CMD {json.dumps(list(self.cmd))}")
            docker("import", *[a for c in changes for a in ("--change", c)], tarball, tag)


def build_image(name: str, context: Path, build_args: Mapping[str, str] | None = None) -> str:
    """A stand-in finished by the Dockerfile in `context`; cached by content (see digest())."""
    args = dict(build_args or {})
    tag = f"cafe-standin/{name}:{digest(sorted(args.items()), files=tree(context), root=context)}"
    with _lock(tag):
        if not image_exists(tag):
            flags = [f for k, v in args.items() for f in ("--build-arg", f"{k}={v}")]
            # The classic builder: every engine has it, and it needs no registry.
            docker(
                "build", "--tag", tag, *flags, context, timeout=1800, env={"DOCKER_BUILDKIT": "0"}
            )
    return tag


def run_checked(command: Sequence[str | Path], *, timeout: float) -> None:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise EngineError(
            f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )


def install_debian_packages(*names: str) -> None:
    """apt-get install, updating the lists once if the first try fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", *names]
    if subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EngineError(f"apt-get install {' '.join(names)} failed:\n{result.stderr[-2000:]}")


def wait_for(predicate: object, timeout: float, what: str, poll: float = 0.5) -> None:
    """Poll a no-argument callable until it returns true; raise naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise EngineError(f"{what}: not within {timeout:g} s")
        time.sleep(poll)
