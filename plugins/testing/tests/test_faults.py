"""FaultProxy in front of moto (real boto3 clients) and in front of a trivial HTTP upstream."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import (
    RetryContext,
    RetryEventAdapter,
    ThrottledRetryableChecker,
    ThrottlingErrorDetector,
)

from cloudops_testing.faults import (
    FaultProxy,
    FaultRules,
    LogEntry,
    ProxyRequest,
    ProxyResponse,
    aws_reject_duplicate_asg,
)
from cloudops_testing.moto_server import MotoServer

# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    moto.reset()
    with FaultProxy(moto.url) as fault_proxy:
        yield fault_proxy


def client(proxy: FaultProxy, service: str, attempts: int = 1, mode: str = "standard") -> Any:
    # NB: botocore's retries["max_attempts"] counts *retries* (it adds one), so a raw, single
    # attempt needs total_max_attempts=1 (or max_attempts=0).
    config = Config(retries={"total_max_attempts": attempts, "mode": mode})  # type: ignore[typeddict-unknown-key]
    return boto3.client(
        service,
        endpoint_url=proxy.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def is_throttling(err: ClientError, operation_model: Any) -> bool:
    """botocore's own standard-mode throttling classification of a raised ClientError."""
    meta = err.response["ResponseMetadata"]
    http = AWSResponse("http://x", meta["HTTPStatusCode"], meta["HTTPHeaders"], None)
    context = RetryContext(
        attempt_number=1,
        operation_model=operation_model,
        parsed_response=err.response,
        http_response=http,
    )
    detector = ThrottlingErrorDetector(RetryEventAdapter())
    return bool(
        ThrottledRetryableChecker().is_retryable(context)
        and detector.is_throttling_error_from_context(context)
    )


def outcomes(proxy: FaultProxy) -> list[str]:
    return [entry.outcome for entry in proxy.log]


# ---------------------------------------------------------------------------------------------
# (a) throttling looks like AWS and botocore classifies it as throttling
# ---------------------------------------------------------------------------------------------


def test_query_throttle_is_classified_as_throttling(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(throttle=1.0, retry_after=2)
    asg = client(proxy, "autoscaling")
    with pytest.raises(ClientError) as raised:
        asg.describe_auto_scaling_groups()
    err = raised.value
    assert err.response["Error"]["Code"] == "Throttling"
    assert err.response["Error"]["Type"] == "Sender"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    headers = err.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["retry-after"] == "2"
    assert headers["x-amz-retry-after"] == "2000"
    op = asg.meta.service_model.operation_model("DescribeAutoScalingGroups")
    assert is_throttling(err, op)
    assert proxy.counts == {"throttle": 1}


def test_ec2_throttle_uses_request_limit_exceeded_with_503(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(throttle=1.0)
    ec2 = client(proxy, "ec2")
    with pytest.raises(ClientError) as raised:
        ec2.describe_instances()
    err = raised.value
    assert err.response["Error"]["Code"] == "RequestLimitExceeded"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "retry-after" not in err.response["ResponseMetadata"]["HTTPHeaders"]
    assert is_throttling(err, ec2.meta.service_model.operation_model("DescribeInstances"))


@pytest.mark.parametrize("mode", ["standard", "legacy"])
@pytest.mark.parametrize(
    ("service", "call"),
    [("autoscaling", "describe_auto_scaling_groups"), ("ec2", "describe_instances")],
)
def test_both_retry_modes_retry_injected_throttling(
    proxy: FaultProxy, mode: str, service: str, call: str
) -> None:
    # legacy mode only retries Throttling with 400 and EC2's RequestLimitExceeded with 503
    proxy.rules = FaultRules(throttle=1.0)
    with pytest.raises(ClientError) as raised:
        getattr(client(proxy, service, attempts=2, mode=mode), call)()
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.counts["throttle"] == 2


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("unavailable", 503, "ServiceUnavailable"), ("server_error", 500, "InternalFailure")],
)
def test_query_5xx_shapes(proxy: FaultProxy, kind: str, status: int, code: str) -> None:
    proxy.rules = FaultRules(**{kind: 1.0}, retry_after=3)
    with pytest.raises(ClientError) as raised:
        client(proxy, "autoscaling").describe_auto_scaling_groups()
    response = raised.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
        status,
        code,
    )
    assert response["Error"]["Type"] == "Receiver"
    has_retry_after = "retry-after" in response["ResponseMetadata"]["HTTPHeaders"]
    assert has_retry_after == (kind == "unavailable")


# ---------------------------------------------------------------------------------------------
# (b) pass-through, (c) determinism, (d) reset, (e) delay
# ---------------------------------------------------------------------------------------------


def test_no_faults_forwards_everything(proxy: FaultProxy) -> None:
    ec2 = client(proxy, "ec2")
    image_id = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="lt",
        LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"},
    )
    names = [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    assert names == ["lt"]
    assert proxy.counts == {"forwarded": 3}
    assert proxy.log == [
        LogEntry("POST", "DescribeImages", "forwarded"),
        LogEntry("POST", "CreateLaunchTemplate", "forwarded"),
        LogEntry("POST", "DescribeLaunchTemplates", "forwarded"),
    ]
    proxy.reset_counts()
    assert proxy.counts == {}
    assert proxy.log == []


def _fault_sequence(proxy: FaultProxy, rules: FaultRules) -> list[str]:
    proxy.rules = rules  # assigning restarts the RNG from rules.seed
    proxy.reset_counts()
    asg = client(proxy, "autoscaling")
    seen = []
    for _ in range(50):
        try:
            asg.describe_auto_scaling_groups()
            seen.append("ok")
        except ClientError as err:
            seen.append(err.response["Error"]["Code"])
    assert outcomes(proxy).count("forwarded") == seen.count("ok")
    return seen


def test_same_seed_same_fault_sequence(proxy: FaultProxy) -> None:
    rules = FaultRules(throttle=0.1, unavailable=0.1, server_error=0.1, seed=1234)
    first = _fault_sequence(proxy, rules)
    first_log = proxy.log
    second = _fault_sequence(proxy, rules)
    assert first == second
    assert first_log == proxy.log
    assert 5 <= 50 - first.count("ok") <= 30  # ~30% at 50 draws; fixed by the seed anyway
    assert {"Throttling", "ServiceUnavailable", "InternalFailure"} <= set(first)
    other = _fault_sequence(proxy, FaultRules(throttle=0.1, unavailable=0.1, server_error=0.1))
    assert other != first


def test_reset_is_a_connection_error_for_botocore(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(reset=1.0)
    asg = client(proxy, "autoscaling")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        asg.describe_auto_scaling_groups()
    # standard mode retries connection errors; every attempt is reset
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client(proxy, "autoscaling", attempts=3).describe_auto_scaling_groups()
    assert proxy.counts == {"reset": 4}
    proxy.rules = FaultRules()
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []


def test_delay_delays_then_forwards(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(delay=1.0, delay_seconds=0.5)
    asg = client(proxy, "autoscaling")
    started = time.monotonic()
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert time.monotonic() - started >= 0.5
    assert proxy.counts == {"delay": 1, "forwarded": 1}
    assert outcomes(proxy) == ["delay"]


def test_match_limits_faults_to_one_action(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(throttle=1.0, match=["CreateLaunchTemplate"])
    ec2 = client(proxy, "ec2")
    ec2.describe_launch_templates()
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.create_launch_template(LaunchTemplateName="lt", LaunchTemplateData={})
    assert outcomes(proxy) == ["forwarded", "throttle"]


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        FaultRules(throttle=0.6, unavailable=0.6)
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        FaultRules(delay=1.5)
    # a lone string is one pattern, not a sequence of one-letter patterns
    assert FaultRules(match="Create").match == ("Create",)


# ---------------------------------------------------------------------------------------------
# (f) fidelity: duplicate CreateAutoScalingGroup answers AlreadyExists like real AWS
# ---------------------------------------------------------------------------------------------


def _create_asg(proxy: FaultProxy) -> tuple[Any, Any]:
    ec2, asg = client(proxy, "ec2"), client(proxy, "autoscaling")
    image_id = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"},
    )
    asg_args = {
        "AutoScalingGroupName": "web-asg",
        "LaunchTemplate": {"LaunchTemplateName": "web", "Version": "$Latest"},
        "MinSize": 0,
        "MaxSize": 3,
        "DesiredCapacity": 2,
        "AvailabilityZones": ["us-east-1a"],
    }
    asg.create_auto_scaling_group(**asg_args)
    return asg, asg_args


def _running_instances(proxy: FaultProxy) -> int:
    reservations = client(proxy, "ec2").describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    return sum(len(r["Instances"]) for r in reservations)


def test_duplicate_asg_is_rejected_like_aws(proxy: FaultProxy) -> None:
    proxy.fidelity = [aws_reject_duplicate_asg]
    asg, asg_args = _create_asg(proxy)
    with pytest.raises(ClientError) as raised:
        asg.create_auto_scaling_group(**asg_args)
    error = raised.value.response["Error"]
    assert error["Code"] == "AlreadyExists"
    assert "A group with the name web-asg already exists" in error["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    groups = asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert len(groups) == 1
    assert len(groups[0]["Instances"]) == 2
    assert _running_instances(proxy) == 2
    assert proxy.counts["fidelity"] == 1
    assert ("POST", "CreateAutoScalingGroup", "fidelity:aws_reject_duplicate_asg") in proxy.log


def test_canary_moto_still_replaces_duplicate_asg(proxy: FaultProxy) -> None:
    # Why the fidelity rule exists. If this fails, moto became faithful and the rule can go.
    asg, asg_args = _create_asg(proxy)
    asg.create_auto_scaling_group(**asg_args)
    assert len(asg.describe_auto_scaling_groups()["AutoScalingGroups"]) == 1
    assert _running_instances(proxy) > 2  # the first group's instances are orphaned


# ---------------------------------------------------------------------------------------------
# (g) JSON-protocol, GCP and Azure shapes
# ---------------------------------------------------------------------------------------------


def test_json_protocol_throttle_shape(proxy: FaultProxy) -> None:
    proxy.rules = FaultRules(throttle=1.0)
    ddb = client(proxy, "dynamodb")
    with pytest.raises(ClientError) as raised:
        ddb.list_tables()
    err = raised.value
    assert err.response["Error"]["Code"] == "ThrottlingException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_throttling(err, ddb.meta.service_model.operation_model("ListTables"))
    assert outcomes(proxy) == ["throttle"]
    assert proxy.log[0].target == "ListTables"


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "host": self.headers["Host"],
                "body": body.decode(),
                "x-custom": self.headers.get("X-Custom"),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _call(
    url: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"X-Custom": "yes"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_plain_http_pass_through_keeps_request_and_streams(echo_url: str) -> None:
    with FaultProxy(echo_url) as proxy:
        host = proxy.url.removeprefix("http://")
        status, _, body = _call(f"{proxy.url}/a%2Fb/c?x=1&y=%20", "PATCH", b'{"k": 1}')
        assert status == 201
        assert json.loads(body) == {
            "method": "PATCH",
            "path": "/a%2Fb/c?x=1&y=%20",
            "host": host,
            "body": '{"k": 1}',
            "x-custom": "yes",
        }
        assert _call(f"{proxy.url}/chunked")[::2] == (200, b"one,two,three")
        assert proxy.counts == {"forwarded": 2}


@pytest.mark.parametrize(
    ("kind", "status", "grpc_status", "reason"),
    [
        ("throttle", 403, "PERMISSION_DENIED", "rateLimitExceeded"),
        ("unavailable", 503, "UNAVAILABLE", "backendError"),
        ("server_error", 500, "INTERNAL", "backendError"),
    ],
)
def test_gcp_error_shapes(
    echo_url: str, kind: str, status: int, grpc_status: str, reason: str
) -> None:
    rules = FaultRules(**{kind: 1.0}, flavor="gcp", retry_after=5)
    with FaultProxy(echo_url, rules) as proxy:
        got_status, headers, body = _call(
            f"{proxy.url}/compute/v1/projects/p/zones/z/instanceGroupManagers/g/resize?size=3",
            "POST",
            b"",
        )
    error = json.loads(body)["error"]
    assert got_status == status == error["code"]
    assert error["status"] == grpc_status
    assert error["errors"][0]["reason"] == reason
    assert error["message"]
    assert ("Retry-After" in headers) == (kind == "unavailable")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("throttle", 429, "OperationNotAllowed"),
        ("unavailable", 503, "ServiceUnavailable"),
        ("server_error", 500, "InternalServerError"),
    ],
)
def test_azure_error_shapes(echo_url: str, kind: str, status: int, code: str) -> None:
    rules = FaultRules(**{kind: 1.0}, flavor="azure", retry_after=7)
    with FaultProxy(echo_url, rules) as proxy:
        got_status, headers, body = _call(
            f"{proxy.url}/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/vmss?api-version=2024-07-01",
            "PUT",
            b"{}",
        )
    assert got_status == status
    assert json.loads(body)["error"]["code"] == code
    assert headers.get("x-ms-request-id")
    if kind == "throttle":
        assert headers["Retry-After"] == "7"
        assert "x-amz-retry-after" not in headers
        assert json.loads(body)["error"]["details"][0]["code"] == "TooManyRequests"
        assert headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/")


def test_predicate_and_regex_matchers(echo_url: str) -> None:
    def only_resize(request: ProxyRequest) -> bool:
        return request.path.endswith("/resize")

    for match in (only_resize, [re.compile(r"^POST .*/resize$")]):
        with FaultProxy(echo_url, FaultRules(throttle=1.0, match=match, flavor="gcp")) as proxy:
            assert _call(f"{proxy.url}/groups/g")[0] == 201
            assert _call(f"{proxy.url}/groups/g/resize?size=2", "POST", b"")[0] == 403
            assert outcomes(proxy) == ["forwarded", "throttle"]


def test_fidelity_rule_can_answer_synchronously(echo_url: str) -> None:
    def teapot(request: ProxyRequest) -> ProxyResponse | None:
        return (
            ProxyResponse(418, {"X-Why": "test"}, b"short and stout")
            if request.method == "DELETE"
            else None
        )

    with FaultProxy(echo_url, fidelity=[teapot]) as proxy:
        assert _call(f"{proxy.url}/x", "DELETE")[::2] == (418, b"short and stout")
        assert _call(f"{proxy.url}/x")[0] == 201
        assert proxy.counts == {"fidelity": 1, "forwarded": 1}


def test_upstream_down_is_a_502() -> None:
    with socket.socket() as bound_not_listening:  # connecting to it is refused
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
            assert _call(f"{proxy.url}/x")[0] == 502
            assert outcomes(proxy) == ["upstream_error"]
