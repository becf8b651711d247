"""DynamoDB for the LocalStack stand-in, answered by moto's DynamoDB backend (moto-ext, which
LocalStack already ships) instead of DynamoDB Local.

LocalStack's own DynamoDB runs the DynamoDB Local jar on a Java runtime, both downloaded from
AWS and Adoptium on first use (the real image has them pre-installed); neither is reachable from
a machine that only reaches PyPI and Debian. moto implements the calls the reporter makes
(CreateTable, DescribeTable, UpdateTimeToLive, PutItem/UpdateItem/GetItem with condition
expressions), but not DynamoDB Local's every detail. Selected by the image's
PROVIDER_OVERRIDE_DYNAMODB=moto.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """No operation of its own: every call falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(
        MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
