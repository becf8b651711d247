"""TLS to the database: MySQL's --ssl-mode values, and the CA bundle that verifies the server.

The extractor image carries Amazon RDS's global CA bundle (docker/Dockerfile puts it at
$LAMBDA_TASK_ROOT/certs/rds-global-bundle.pem). With it, the default is VERIFY_IDENTITY: the
server's certificate must chain to that bundle (or to dbSslCa) and name the host in dbUrl, as
RDS's certificates name their endpoints. The weaker modes are explicit choices (dbSslMode):

- VERIFY_CA: the chain only (a CNAME in front of the RDS endpoint, a proxy);
- REQUIRED: encrypted, the certificate not checked;
- PREFERRED: encrypted when the server offers TLS, unchecked (the lab's behaviour);
- DISABLED: no TLS.

Without a bundle (a run from a checkout, not the image) and without dbSslMode, the extractor
falls back to PREFERRED and logs a warning saying so.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from typing import Any

from .errors import DatabaseTlsError
from .event import ExtractRequest

log = logging.getLogger(__name__)

BUNDLE_IN_IMAGE = "certs/rds-global-bundle.pem"  # under LAMBDA_TASK_ROOT
VERIFYING = ("VERIFY_CA", "VERIFY_IDENTITY")


# os.path, not pathlib: pathlib would be one more import on every cold start.
def default_bundle() -> str:
    """Where the image keeps RDS's CA bundle."""
    return os.path.join(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"), BUNDLE_IN_IMAGE)  # noqa: PTH118


def mode_and_bundle(request: ExtractRequest) -> tuple[str, str]:
    """The connection's ssl mode and CA bundle; raises DatabaseTlsError for a missing bundle."""
    bundle = request.ssl_ca or default_bundle()
    mode = request.ssl_mode
    if mode is None:
        if os.path.isfile(bundle):  # noqa: PTH113
            mode = "VERIFY_IDENTITY"
        else:
            mode = "PREFERRED"
            log.warning(
                "no CA bundle at %s: the database's certificate is not verified (TLS is used "
                "when the server offers it); set dbSslMode to choose, or dbSslCa",
                bundle,
            )
    if mode in VERIFYING and not os.path.isfile(bundle):  # noqa: PTH113
        raise DatabaseTlsError(
            f"dbSslMode {mode} verifies the database's certificate, but there is no CA bundle "
            f"at {bundle}: set dbSslCa to a PEM file in the image (the extractor image carries "
            "RDS's at /var/task/certs/rds-global-bundle.pem), or choose a weaker dbSslMode"
        )
    return mode, bundle


def connection_options(mode: str, bundle: str) -> dict[str, Any]:
    """PyMySQL's keyword arguments for `mode`."""
    if mode == "DISABLED":
        return {"ssl_disabled": True}
    if mode == "PREFERRED":
        return {}  # PyMySQL's own default; db._Connection gives it unverified_context()
    if mode == "REQUIRED":
        return {"ssl": _required_context()}
    return {"ssl": verifying_context(bundle, check_hostname=mode == "VERIFY_IDENTITY")}


@functools.cache
def unverified_context() -> ssl.SSLContext:
    """Encryption without verification, built once per container: PyMySQL's default context
    loads the system's CA store on every connect (~75 ms, bench/RESULTS.md) for nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.cache
def _required_context() -> ssl.SSLContext:
    return unverified_context()


@functools.cache
def verifying_context(bundle: str, *, check_hostname: bool) -> ssl.SSLContext:
    """A context that trusts only `bundle` (loaded once per container and mode)."""
    context = ssl.create_default_context(cafile=bundle)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context
