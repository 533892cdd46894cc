"""The content bucket's seam: the one S3 client, a plain botocore client like the DynamoDB one.

botocore reads the endpoint from `AWS_ENDPOINT_URL_S3` when it is set (a local S3, such as the embedded moto of
`make serve`); such a server answers on one host name, so buckets are then named in the path, not the host.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:  # the stubs are a development dependency: nothing of them ships
    from mypy_boto3_s3 import S3Client as S3Client
else:
    S3Client = Any

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_S3"

# An S3 call gives up after at most 2 attempts of (0.5 s to connect + 3 s to answer) and one backoff: within the
# API function's 10 s beside its DynamoDB calls (a message too large for its item makes one S3 call), and well
# inside the margin the cleanup keeps before its own function's timeout.
CLIENT_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
)


def new_client(config: Config = CLIENT_CONFIG) -> S3Client:
    if os.environ.get(ENDPOINT_VARIABLE):
        config = config.merge(Config(s3={"addressing_style": "path"}))
    return cast("S3Client", botocore.session.get_session().create_client("s3", config=config))
