"""The reporter's /<prefix>/db* parameters on moto's SSM, for one test, removed afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from support.aws import aws_client
from support.database import Server


@contextlib.contextmanager
def db_parameters(
    endpoint: str, server: Server, database: str, user: str, password: str
) -> Iterator[str]:
    """Store dbUrl, dbPort, dbName, dbUser and dbPassword (a SecureString); yield the prefix."""
    prefix = f"/cafe-test-{uuid.uuid4().hex[:10]}"
    values = {
        "dbUrl": server.host,
        "dbPort": str(server.port),
        "dbName": database,
        "dbUser": user,
        "dbPassword": password,
    }
    ssm = aws_client("ssm", endpoint)
    try:
        for key, value in values.items():
            kind = "SecureString" if key == "dbPassword" else "String"
            ssm.put_parameter(Name=f"{prefix}/{key}", Value=value, Type=kind, Overwrite=True)
        yield prefix
    finally:
        ssm.delete_parameters(Names=[f"{prefix}/{key}" for key in values])
