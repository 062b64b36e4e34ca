"""Each cloud's API throttling, modelled with token buckets, as a fault-proxy fidelity rule.

Why: random throttle faults (``FaultRules.throttle``) test that one throttled call is retried;
they cannot show what a fleet does to an account's API budget. The clouds meter calls with token
buckets per account and region (and per API family where they have them); a request that finds
its bucket empty gets the cloud's own throttling error. This module keeps those buckets, so a
proxy in front of an emulator throttles exactly when the real cloud would (given the bucket
sizes), and counts calls per second per account to check cloudops' budgets against.

What each cloud meters (the bucket sizes are settings; the defaults are stated where they are):

- AWS: per account (the credentials' access key) and region (SigV4 credential scope). EC2 has
  one bucket for non-mutating (``Describe*``) and one for mutating actions
  (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html: non-mutating 100 tokens
  refilled at 20/s); Auto Scaling one bucket for all its calls; ELB one bucket. Answer:
  ``Throttling`` / ``RequestLimitExceeded`` (EC2), as :mod:`cloudops_testing.faults` sends.
- GCP: per project (from the URL), reads (GET) and writes apart, whatever the region. Answer:
  429 ``rateLimitExceeded``.
- Azure: per subscription (from the URL), reads (GET) and writes apart. Answer: 429
  ``TooManyRequests`` with ``x-ms-ratelimit-remaining-subscription-*`` headers.

Use :func:`install` to put a :class:`CloudThrottle` first among a proxy's fidelity rules.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from cloudops_testing.faults import FLAVORS, FaultProxy, ProxyRequest, ProxyResponse

__all__ = [
    "AWS_LIMITS",
    "AZURE_LIMITS",
    "GCP_LIMITS",
    "AwsSlowStart",
    "Bucket",
    "CloudThrottle",
    "ThrottleKey",
    "install",
]


@dataclass(frozen=True)
class Bucket:
    """A token bucket: holds at most ``capacity`` tokens, refilled at ``refill_per_second``."""

    capacity: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_second <= 0:
            raise ValueError(f"a bucket needs capacity >= 1 and a positive refill, got {self}")


class ThrottleKey(NamedTuple):
    """What one bucket meters: an account (or project, subscription), a region, a family."""

    account: str
    region: str
    family: str


#: AWS, per account and region. EC2's non-mutating bucket is the published one; EC2's mutating
#: bucket, Auto Scaling's and ELB's are not published: assumed at EC2's mutating refill (5/s)
#: and, for Auto Scaling and ELB, a 40-token bucket refilled at 10/s (Spinnaker's default
#: client rate), the conservative end of what users report.
AWS_LIMITS: dict[str, Bucket] = {
    "ec2-reads": Bucket(100, 20),
    "ec2-mutations": Bucket(50, 5),
    "autoscaling": Bucket(40, 10),
    "elasticloadbalancing": Bucket(40, 10),
    "other": Bucket(100, 20),
}
#: GCP, per project: Compute Engine's default read and write quotas are per minute (1,500-3,000
#: reads, fewer writes); a minute's quota as the bucket, refilled per second.
GCP_LIMITS: dict[str, Bucket] = {"reads": Bucket(1500, 25), "writes": Bucket(600, 10)}
#: Azure Resource Manager, per subscription (and principal and region): 250 reads refilled at
#: 25/s, 200 writes refilled at 10/s (learn.microsoft.com, "Understand how Azure Resource
#: Manager throttles requests", token bucket algorithm).
AZURE_LIMITS: dict[str, Bucket] = {"reads": Bucket(250, 25), "writes": Bucket(200, 10)}

_DEFAULT_LIMITS = {"aws": AWS_LIMITS, "gcp": GCP_LIMITS, "azure": AZURE_LIMITS}
_AWS_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_GCP_PROJECT = re.compile(r"/projects/([^/?]+)")
_AZURE_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)
_EC2_READ = ("Describe", "Get", "List")


def aws_key(request: ProxyRequest) -> ThrottleKey:
    """Access key and region of the SigV4 signature; the service's bucket (EC2: two)."""
    found = _AWS_CREDENTIAL.search(request.headers.get("Authorization", ""))
    account, region, service = found.groups() if found else ("anonymous", "*", "other")
    if service == "ec2":
        action = request.action or ""
        family = "ec2-reads" if action.startswith(_EC2_READ) else "ec2-mutations"
    elif service in ("autoscaling", "elasticloadbalancing"):
        family = service
    else:
        family = "other"
    return ThrottleKey(account, region, family)


def gcp_key(request: ProxyRequest) -> ThrottleKey:
    """The project of the URL; GETs are reads, everything else writes; regions share."""
    found = _GCP_PROJECT.search(request.path)
    family = "reads" if request.method in ("GET", "HEAD") else "writes"
    return ThrottleKey(found.group(1) if found else "anonymous", "*", family)


def azure_key(request: ProxyRequest) -> ThrottleKey:
    """The subscription of the URL; GETs are reads, everything else writes."""
    found = _AZURE_SUBSCRIPTION.search(request.path)
    family = "reads" if request.method in ("GET", "HEAD") else "writes"
    return ThrottleKey(found.group(1).lower() if found else "anonymous", "*", family)


_KEYS: dict[str, Callable[[ProxyRequest], ThrottleKey]] = {
    "aws": aws_key,
    "gcp": gcp_key,
    "azure": azure_key,
}


@dataclass
class _State:
    tokens: float
    updated: float


@dataclass
class CloudThrottle:
    """A fidelity rule keeping one token bucket per :class:`ThrottleKey`.

    Each request takes one token from its bucket; with none left the rule answers the cloud's
    throttling error with ``Retry-After`` (whole seconds until a token is back; AWS also
    ``x-amz-retry-after`` in ms) instead of forwarding. ``limits``: family -> bucket (the
    cloud's defaults above when left out); ``key_of`` maps a request to its key (by default
    the cloud's own scope); ``accounts`` renames keys' accounts (an access key to an account
    name) in the statistics. ``served`` and ``throttled`` count per key; :meth:`peak_rate`
    gives the busiest second of an account.
    """

    flavor: str
    limits: Mapping[str, Bucket] = field(default_factory=dict)
    key_of: Callable[[ProxyRequest], ThrottleKey] | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    __name__ = "throttle"  # how the proxy's log names the rule's answers (fidelity:throttle)

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS or self.flavor not in _DEFAULT_LIMITS:
            raise ValueError(f"no throttling model for flavor {self.flavor!r}")
        self.limits = dict(self.limits or _DEFAULT_LIMITS[self.flavor])
        self._key_of = self.key_of or _KEYS[self.flavor]
        self._lock = threading.Lock()
        self._buckets: dict[ThrottleKey, _State] = {}
        self.served: Counter[ThrottleKey] = Counter()
        self.throttled: Counter[ThrottleKey] = Counter()
        self._times: defaultdict[str, list[float]] = defaultdict(list)

    def key(self, request: ProxyRequest) -> ThrottleKey:
        """The bucket ``request`` draws from, its account renamed by ``accounts``."""
        raw = self._key_of(request)
        return raw._replace(account=self.accounts.get(raw.account, raw.account))

    def take(self, key: ThrottleKey) -> float:
        """Take a token for ``key``: 0 if there was one, else seconds until there is."""
        bucket = self.limits.get(key.family) or self.limits.get("other")
        now = self.clock()
        with self._lock:
            if bucket is None:
                self.served[key] += 1
                self._times[key.account].append(now)
                return 0.0
            state = self._buckets.setdefault(key, _State(bucket.capacity, now))
            state.tokens = min(
                bucket.capacity, state.tokens + (now - state.updated) * bucket.refill_per_second
            )
            state.updated = now
            if state.tokens >= 1.0:
                state.tokens -= 1.0
                self.served[key] += 1
                self._times[key.account].append(now)
                return 0.0
            self.throttled[key] += 1
            return (1.0 - state.tokens) / bucket.refill_per_second

    def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        """Forward (None) while the bucket has a token; else the cloud's throttling answer."""
        wait = self.take(self.key(request))
        if wait <= 0:
            return None
        base = FLAVORS[self.flavor]("throttle", request)
        headers = dict(base.headers)
        seconds = max(1, math.ceil(wait))
        headers["Retry-After"] = str(seconds)
        if self.flavor == "aws":
            headers["x-amz-retry-after"] = str(max(1, math.ceil(wait * 1000)))
        if self.flavor == "azure":
            family = "reads" if request.method in ("GET", "HEAD") else "writes"
            headers[f"x-ms-ratelimit-remaining-subscription-{family}"] = "0"
        return ProxyResponse(base.status, headers, base.body)

    # -- statistics --------------------------------------------------------------------------

    def calls(self, account: str | None = None) -> int:
        """Requests forwarded (not throttled), of one account or all."""
        with self._lock:
            return sum(n for k, n in self.served.items() if account in (None, k.account))

    def throttles(self, account: str | None = None) -> int:
        """Requests answered with a throttling error, of one account or all."""
        with self._lock:
            return sum(n for k, n in self.throttled.items() if account in (None, k.account))

    def peak_rate(self, account: str, window: float = 1.0, since: float | None = None) -> int:
        """The most forwarded calls of ``account`` within any ``window`` seconds."""
        with self._lock:
            times = sorted(t for t in self._times.get(account, []) if since is None or t >= since)
        best, start = 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def mean_rate(self, account: str, since: float | None = None) -> float:
        """Forwarded calls per second of ``account`` from its first to its last call."""
        with self._lock:
            times = sorted(t for t in self._times.get(account, []) if since is None or t >= since)
        if len(times) < 2:
            return float(len(times))
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    def reset(self) -> None:
        """Refill every bucket and forget the statistics."""
        with self._lock:
            self._buckets.clear()
            self.served.clear()
            self.throttled.clear()
            self._times.clear()


def install(proxy: FaultProxy, throttle: CloudThrottle) -> CloudThrottle:
    """Put ``throttle`` first among ``proxy``'s fidelity rules (before any emulation rule)."""
    proxy.fidelity.insert(0, throttle)
    return throttle


class AwsSlowStart:
    """Fidelity rule: instances of a new Auto Scaling group stay ``Pending`` for ``seconds``.

    Why: moto puts instances InService at once, so a wait never polls twice; on AWS a group
    takes minutes. Counted from when the proxy first sees the group in a
    ``DescribeAutoScalingGroups`` answer (the clock starts at the first read).
    """

    __name__ = "slow_start"

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._first_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    async def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        """Rewrite young groups' instances in a DescribeAutoScalingGroups answer."""
        if request.action != "DescribeAutoScalingGroups":
            return None
        answer = await request.send_upstream()
        if answer.status != 200:
            return answer
        return ProxyResponse(answer.status, answer.headers, self._rewrite(answer.body))

    def _rewrite(self, body: bytes) -> bytes:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(body)
        now = self._clock()
        namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", namespace.strip("{}"))
        for group in root.iter(f"{namespace}member"):
            name = group.findtext(f"{namespace}AutoScalingGroupName")
            if name is None:
                continue
            with self._lock:
                young = now - self._first_seen.setdefault(name, now) < self.seconds
            if young:
                for state in group.iter(f"{namespace}LifecycleState"):
                    state.text = "Pending"
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)
