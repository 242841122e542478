"""An S3 stand-in on loopback: moto's server with request signing and IAM policies enforced.

moto accepts unsigned requests until authentication is switched on, so setup creates
the bucket, an IAM user and its access key first, then switches it on. From then on a
wrong secret gets `SignatureDoesNotMatch`, an unknown key `InvalidAccessKeyId`, and a
bucket outside the user's policy `AccessDenied`, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import httpx
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
BUCKET = "taskgo-uploads-test"
FORBIDDEN_BUCKET = "taskgo-other-team"


@dataclass(frozen=True)
class S3StandIn:
    endpoint: str
    access_key_id: str
    secret_access_key: str

    def storage_url(self, *, prefix: str = "uploads", secret: str | None = None) -> str:
        password = quote(secret if secret is not None else self.secret_access_key, safe="")
        return (
            f"s3://{self.access_key_id}:{password}@{BUCKET}/{prefix}"
            f"?endpoint={self.endpoint}&region={REGION}&addressing=path"
        )

    def client(self) -> Any:
        """A client signed with the IAM user's key, for checking what the code stored."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


def _bucket_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                }
            ],
        }
    )


@contextmanager
def running_s3_standin() -> Iterator[S3StandIn]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "setup",
        "aws_secret_access_key": "setup",
    }
    try:
        # moto keeps its accounts, users and buckets in process-wide state, so a stand-in
        # started earlier in this process left them behind.
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="taskgo-api")
        key = iam.create_access_key(UserName="taskgo-api")["AccessKey"]
        iam.put_user_policy(
            UserName="taskgo-api", PolicyName="uploads-bucket", PolicyDocument=_bucket_policy()
        )
        s3 = boto3.client("s3", **setup)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=FORBIDDEN_BUCKET)

        # From here on every request must carry a valid signature and be allowed by IAM.
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield S3StandIn(
            endpoint=endpoint,
            access_key_id=key["AccessKeyId"],
            secret_access_key=key["SecretAccessKey"],
        )
    finally:
        # moto keeps this switch in process-wide settings; restore the default.
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf")
        server.stop()
