"""The token-bucket throttling model, over real HTTP: boto3 to moto, urllib to a stub upstream."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudops_testing.faults import FaultProxy
from cloudops_testing.moto_server import MotoServer
from cloudops_testing.throttling import Bucket, CloudThrottle, ThrottleKey, install


class Clock:
    """A hand-driven clock, so refills are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def aws(proxy: FaultProxy, service: str, key: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=proxy.url,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),  # type: ignore[typeddict-unknown-key]
    )


def test_aws_buckets_per_account_and_family(moto: MotoServer) -> None:
    clock = Clock()
    throttle = CloudThrottle(
        "aws",
        limits={"autoscaling": Bucket(3, 1), "ec2-reads": Bucket(2, 1)},
        accounts={"KEYA": "a", "KEYB": "b"},
        clock=clock,
    )
    with FaultProxy(moto.url) as proxy:
        install(proxy, throttle)
        asg_a = aws(proxy, "autoscaling", "KEYA")
        for _ in range(3):
            asg_a.describe_auto_scaling_groups()
        with pytest.raises(ClientError) as caught:
            asg_a.describe_auto_scaling_groups()
        error = caught.value.response
        assert error["Error"]["Code"] == "Throttling"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        headers = error["ResponseMetadata"]["HTTPHeaders"]
        assert headers["retry-after"] == "1"
        assert headers["x-amz-retry-after"] == "1000"

        # Another account, and another family of the same account, have buckets of their own.
        aws(proxy, "autoscaling", "KEYB").describe_auto_scaling_groups()
        ec2_a = aws(proxy, "ec2", "KEYA")
        ec2_a.describe_instances()
        ec2_a.describe_instances()
        with pytest.raises(ClientError) as ec2_caught:
            ec2_a.describe_instances()
        assert ec2_caught.value.response["Error"]["Code"] == "RequestLimitExceeded"

        clock.now += 1.0  # one token back
        asg_a.describe_auto_scaling_groups()
        assert throttle.calls("a") == 6
        assert throttle.throttles("a") == 2
        assert throttle.throttled[ThrottleKey("a", "us-east-1", "autoscaling")] == 1
        assert throttle.calls("b") == 1
        assert proxy.counts["fidelity"] == 2


def send(url: str, method: str = "GET") -> tuple[int, dict[str, str], Any]:
    """Status, headers and (for a throttling answer) the JSON body of one request."""
    request = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers), None
    except urllib.error.HTTPError as err:
        body = err.read()
        return err.code, dict(err.headers), json.loads(body) if err.code == 429 else None


def test_gcp_and_azure_answer_their_own_throttling(moto: MotoServer) -> None:
    # moto answers these paths with errors of its own: only the proxy's 429s matter here.
    clock = Clock()
    gcp = CloudThrottle(
        "gcp", limits={"reads": Bucket(1, 0.5), "writes": Bucket(1, 1)}, clock=clock
    )
    with FaultProxy(moto.url) as proxy:
        install(proxy, gcp)
        path = "/compute/v1/projects/p1/zones/us-central1-a/instanceGroupManagers"
        assert send(proxy.url + path)[0] != 429
        status, headers, body = send(proxy.url + path)
        assert status == 429
        assert body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
        assert headers["Retry-After"] == "2"
        assert send(proxy.url + path, "POST")[0] != 429  # writes: a bucket of their own
        assert send(proxy.url + path.replace("p1", "p2"))[0] != 429  # another project

    azure = CloudThrottle("azure", limits={"reads": Bucket(1, 1), "writes": Bucket(1, 1)})
    with FaultProxy(moto.url) as proxy:
        install(proxy, azure)
        path = "/subscriptions/S1/resourceGroups/rg/providers/Microsoft.Compute/vmss"
        assert send(proxy.url + path)[0] != 429
        status, headers, body = send(proxy.url + path)
        assert status == 429
        assert body["error"]["code"] == "TooManyRequests"
        assert headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
        assert int(headers["Retry-After"]) >= 1
        assert azure.throttled[ThrottleKey("s1", "*", "reads")] == 1


def test_bucket_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Bucket(0, 1)
    with pytest.raises(ValueError, match="flavor"):
        CloudThrottle("nimbus")
