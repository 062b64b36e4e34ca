"""The provider conformance suite: one set of tests every server-group provider passes.

Why: the contract (:mod:`cloudops.servergroups.contract`) names the verbs a deploy strategy may
rely on; this suite checks, against a provider's local cloud, that they behave the same on
every cloud, reading the results back from the cloud itself (not only through cloudops' own
``describeServerGroup``). A provider, including a third party's, runs it by subclassing
:class:`ConformanceSuite` in its own tests and giving a :class:`ConformanceTarget`:

.. code-block:: python

    class TestMyCloudConformance(ConformanceSuite):
        @pytest.fixture
        def conformance_target(self, my_emulator) -> ConformanceTarget:
            return ConformanceTarget(provider="mycloud", plugin=my_plugin, ...)

What it checks: each verb's happy path (create, describe, list, resize, terminate, disable,
enable, clone, destroy); NOT_FOUND for a missing group; one group for one request run twice;
the rollback of a create that failed after it made something; a lifecycle through a fault
proxy injecting throttling and 5xx; a worker SIGKILLed in the middle of a create. The last
three need the target's optional fields and are skipped without them.

The load-balancer and security-group verbs (:data:`cloudops.network.contract.NETWORK_VERBS`)
are checked when the target gives a network sample (``load_balancer_input`` with
``read_load_balancer``, ``security_group_input`` with ``read_security_group``): an upsert
creates, an identical one changes nothing, a changed one converges (a listener or rule added,
one revoked), describe and list, delete refused while a server group uses the load balancer and
allowed after its destroy, delete of a missing one is done.

Everything this suite takes from the rest of cloudops-testing is imported here, at the top:
the fixtures it uses are ``cloudops_worker``, ``worker_process`` and ``temporal_client``.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pytest
from temporalio.client import Client

from cloudops.client import CloudOpsClient
from cloudops.models import WorkflowResult
from cloudops.network.contract import NETWORK_VERBS
from cloudops.network.models import IngressRule, permissions
from cloudops.servergroups.contract import VERBS
from cloudops.servergroups.models import RESERVED_TAG_PREFIX
from cloudops_testing.faults import FaultProxy, FaultRules
from cloudops_testing.network_inputs import load_balancer_input, security_group_input
from cloudops_testing.processes import WorkerProcess

__all__ = [
    "FAST",
    "ConformanceSuite",
    "ConformanceTarget",
    "GroupState",
    "IngressTuple",
    "fresh_application",
    "provider_ops",
]

#: Wait settings of every request the suite sends: short polls keep the suite fast.
FAST: dict[str, Any] = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}
#: The verbs that do not need an existing group (create, list; destroy of nothing is done).
NOT_ON_A_GROUP = {"createServerGroup", "listServerGroups", "destroyServerGroup"}
#: The capacity of the sample group (the suite overrides the target's sample input with it).
SAMPLE_CAPACITY = {"min": 1, "max": 3, "desired": 2}
#: The stack of the suite's load balancers and security groups (``{application}-edge``): not
#: ``web`` or ``test``, which targets' sample server groups may use for their own resources.
NETWORK_STACK = "edge"
#: An ingress rule as a target reads it back: protocol (``tcp``, ``udp``, ``icmp``, ``all``),
#: first and last port (None without ports), and the source: a CIDR block or a security group
#: by our name (the group itself for ``from_self``).
IngressTuple = tuple[str, int | None, int | None, str]


@dataclass(frozen=True)
class GroupState:
    """A server group as the cloud itself holds it (read without cloudops).

    ``desired``: the size the cloud is asked to keep; ``instances``: live instances of the
    group (counting every instance the cloud holds for it, so a duplicate shows); ``in_traffic``:
    whether its instances receive traffic from its load balancers.
    """

    desired: int
    instances: int
    in_traffic: bool


@dataclass(frozen=True)
class ConformanceTarget:
    """What the suite needs to know about one provider and its local cloud.

    - ``provider``: the plugin's namespace (``aws`` runs ``aws.createServerGroup``).
    - ``plugin``: the plugin object (module) a worker in the test process loads.
    - ``accounts``: a ``cloudops.toml``-shaped dict with one account on the local cloud; the
      suite acts in its first region.
    - ``create_input(application)``: a sample ``createServerGroup`` input whose group receives
      traffic (a load balancer or target group of its own, if the cloud needs one); the suite
      sets its ``stack`` to ``test``, its capacity to 1/2/3 and short polls.
    - ``read_group(name)``: the group as the cloud holds it, or None when it does not exist.
    - ``resources(application)``: names of every resource the cloud holds for the application
      (groups, templates, instances...): empty after a rollback or destroy, unchanged by a
      repeated request.
    - ``failing_create(application)``: arranges a create of the application's first group to
      fail *after* it made something (a missing load balancer, an allocation failure...) and
      returns the overrides of the sample input it needs; ``failing_code``: the error expected.
    - ``fault_proxy(rules)``: starts a fault proxy in front of the local cloud (the account's
      ``endpoint`` is pointed at it); without one the fault and SIGKILL tests are skipped.
    - ``entry_point``: the plugin's entry-point name for ``cloudops worker`` child processes
      (default: ``provider``).
    - ``load_balancer_input(application)``: a sample ``upsertLoadBalancer`` input (the suite
      sets its ``stack``); ``read_load_balancer(name)``: the ports it listens on as the cloud
      holds them, or None when it does not exist. Without both the load-balancer test is
      skipped.
    - ``security_group_input(application)``: a sample ``upsertSecurityGroup`` input with at
      least one ingress rule (the suite sets its ``stack``); ``read_security_group(name)``: its
      ingress rules as the cloud holds them (:data:`IngressTuple`), or None when it does not
      exist. Without both the security-group test is skipped.
    """

    provider: str
    plugin: object
    accounts: dict[str, Any]
    create_input: Callable[[str], dict[str, Any]]
    read_group: Callable[[str], GroupState | None]
    resources: Callable[[str], list[str]]
    failing_create: Callable[[str], dict[str, Any]] | None = None
    failing_code: str = "NOT_FOUND"
    fault_proxy: Callable[[FaultRules], FaultProxy] | None = None
    entry_point: str | None = None
    load_balancer_input: Callable[[str], dict[str, Any]] | None = None
    read_load_balancer: Callable[[str], frozenset[int] | None] | None = None
    security_group_input: Callable[[str], dict[str, Any]] | None = None
    read_security_group: Callable[[str], frozenset[IngressTuple] | None] | None = None

    @property
    def where(self) -> dict[str, str]:
        """The account and region the suite acts in."""
        name, account = next(iter(self.accounts["accounts"].items()))
        return {"account": name, "region": account["regions"][0]}

    def accounts_at(self, endpoint: str) -> dict[str, Any]:
        """The accounts with the cloud's API at ``endpoint`` (a fault proxy's URL)."""
        accounts = copy.deepcopy(self.accounts)
        for account in accounts["accounts"].values():
            account["endpoint"] = endpoint
        return accounts

    def sample(self, application: str, **overrides: Any) -> dict[str, Any]:
        """The sample create input with the suite's stack, capacity and polls."""
        data = {**self.create_input(application), "stack": "test"}
        data.update(capacity=dict(SAMPLE_CAPACITY), **FAST)
        data.update(overrides)
        return data


@dataclass
class Ops:
    """Runs the target's verbs through a ``CloudOpsClient`` in the target's account."""

    client: CloudOpsClient
    target: ConformanceTarget
    requests: list[str] = field(default_factory=list)

    async def run(self, verb: str, payload: dict[str, Any], **options: Any) -> WorkflowResult[Any]:
        where = {**self.target.where, **options}
        return await self.client.execute(f"{self.target.provider}.{verb}", payload, **where)

    async def ok(self, verb: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        result = await self.run(verb, payload, **options)
        assert result.ok, (verb, result.error)
        assert isinstance(result.value, dict)
        return result.value

    async def create(self, application: str, **overrides: Any) -> str:
        """Create the sample group; its name."""
        value = await self.ok("createServerGroup", self.target.sample(application, **overrides))
        return str(value["name"])


ReaderT = TypeVar("ReaderT", bound=Callable[..., Any])


class LocalTarget:
    """A :class:`ConformanceTarget` on the test kit's fixtures, readers added by :meth:`reads`.

    Why: every provider's target was the same long constructor call. The plugin is
    ``cloudops_{provider}.plugin``, the accounts and the fault proxy are the fixtures
    ``{provider}_accounts`` and ``{provider}_fault_proxy``, the network samples are
    :mod:`cloudops_testing.network_inputs`'; :meth:`target` takes what else differs.
    """

    def __init__(self, provider: str, request: pytest.FixtureRequest) -> None:
        self.provider, self.request = provider, request
        self.readers: dict[str, Any] = {}

    def reads(self, reader: ReaderT) -> ReaderT:
        """Decorator: ``reader`` is the target's field of its name (``read_group`` ...)."""
        self.readers[reader.__name__] = reader
        return reader

    def target(self, **fields: Any) -> ConformanceTarget:
        """The target: the fixtures' and the kit's defaults, the readers, then ``fields``."""
        fixture = self.request.getfixturevalue
        defaults: dict[str, Any] = {
            "provider": self.provider,
            "plugin": importlib.import_module(f"cloudops_{self.provider}.plugin"),
            "accounts": fixture(f"{self.provider}_accounts"),
            "fault_proxy": fixture(f"{self.provider}_fault_proxy"),
            "load_balancer_input": load_balancer_input,
            "security_group_input": security_group_input,
        }
        return ConformanceTarget(**{**defaults, **self.readers, **fields})


def fresh_application() -> str:
    """An application name of its own per test: the local clouds' state is shared."""
    return f"t{uuid.uuid4().hex[:10]}"


def provider_ops(plugin: object, accounts_fixture: str) -> Any:
    """A fixture giving a ``CloudOpsClient`` of a worker that runs only ``plugin``.

    The worker's accounts are those of the fixture named ``accounts_fixture``; in a conftest:
    ``aws_ops = provider_ops(cloudops_aws.plugin, "aws_accounts")``.
    """

    @pytest.fixture
    async def ops(
        cloudops_worker: Any, request: pytest.FixtureRequest
    ) -> AsyncIterator[CloudOpsClient]:
        accounts = request.getfixturevalue(accounts_fixture)
        async with cloudops_worker(
            plugins=[plugin], load_entrypoints=False, accounts=accounts
        ) as c:
            yield c

    return ops


def expected_rules(name: str, ingress: list[dict[str, Any]]) -> frozenset[IngressTuple]:
    """The rules group ``name`` holds for ``ingress`` (an upsert input's), as targets read them."""
    rules = [IngressRule.model_validate(rule) for rule in ingress]
    return frozenset(
        (p.protocol, p.from_port, p.to_port, p.source) for p in permissions(name, rules)
    )


def user_tags(description: dict[str, Any]) -> dict[str, str]:
    """A described group's tags without the reserved ones cloudops writes."""
    tags: dict[str, str] = description["tags"]
    return {k: v for k, v in tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}


class ConformanceSuite:
    """The tests; subclass it as ``Test...`` where a ``conformance_target`` fixture is visible.

    The fixture may be defined in the subclass, its module or a conftest.
    """

    @pytest.fixture
    def application(self) -> str:
        """An application of the test's own."""
        return fresh_application()

    @pytest.fixture
    async def ops(
        self, cloudops_worker: Any, conformance_target: ConformanceTarget
    ) -> AsyncIterator[Ops]:
        """A worker in this process running only the target's plugin, on its local cloud."""
        target = conformance_target
        async with cloudops_worker(
            plugins=[target.plugin], load_entrypoints=False, accounts=target.accounts
        ) as client:
            yield Ops(client, target)

    # -- each verb's happy path, read back from the cloud ---------------------------------------

    async def test_create_describe_list_clone_and_destroy(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """Create, describe, list, clone (the next group), then destroy leaving nothing.

        The clone has the source's settings with the overrides on top; the source is untouched.
        """
        target = conformance_target
        source = await ops.create(application)
        assert source == f"{application}-test-v000"
        assert target.read_group(source) == GroupState(desired=2, instances=2, in_traffic=True)
        original = await ops.ok("describeServerGroup", {"server_group": source})
        assert original["name"] == source
        assert original["cluster"] == f"{application}-test"
        assert original["capacity"]["desired"] == 2
        assert len(original["instances"]) == 2
        assert original["disabled"] is False

        one = {"min": 1, "max": 1, "desired": 1}
        cloned = await ops.ok(
            "cloneServerGroup",
            {"source": source, "capacity": one, "tags": {"version": "2"}, **FAST},
        )
        clone = cloned["name"]
        assert clone == f"{application}-test-v001"
        assert cloned["resources"]["source"] == source
        assert target.read_group(clone) == GroupState(desired=1, instances=1, in_traffic=True)
        assert target.read_group(source) == GroupState(desired=2, instances=2, in_traffic=True)
        copy = await ops.ok("describeServerGroup", {"server_group": clone})
        assert copy["instance_type"] == original["instance_type"]
        assert copy["image"] == original["image"]
        assert user_tags(copy) == {**user_tags(original), "version": "2"}

        listed = await ops.ok("listServerGroups", {"application": application, "stack": "test"})
        assert [g["name"] for g in listed["server_groups"]] == [source, clone]
        empty = await ops.ok("listServerGroups", {"application": f"{application}x"})
        assert empty["server_groups"] == []

        for name in (source, clone):
            destroyed = await ops.ok("destroyServerGroup", {"server_group": name, **FAST})
            assert destroyed["changed"] is True
            assert target.read_group(name) is None
        assert target.resources(application) == []
        again = await ops.ok("destroyServerGroup", {"server_group": source, **FAST})
        assert again["changed"] is False

    async def test_disable_enable_resize_and_terminate(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """Disable, enable, resize and terminate, each read back from the cloud.

        Disable takes the group out of traffic (its instances keep running), enable puts it
        back; resize grows it; terminating an instance shrinks it, once.
        """
        target = conformance_target
        name = await ops.create(application)
        disabled = await ops.ok("disableServerGroup", {"server_group": name, **FAST})
        assert disabled["disabled"] is True and disabled["changed"] is True
        assert target.read_group(name) == GroupState(desired=2, instances=2, in_traffic=False)
        described = await ops.ok("describeServerGroup", {"server_group": name})
        assert described["disabled"] is True
        again = await ops.ok("disableServerGroup", {"server_group": name, **FAST})
        assert again["changed"] is False

        enabled = await ops.ok("enableServerGroup", {"server_group": name, **FAST})
        assert enabled["disabled"] is False and enabled["healthy_count"] == 2
        assert target.read_group(name) == GroupState(desired=2, instances=2, in_traffic=True)
        described = await ops.ok("describeServerGroup", {"server_group": name})
        assert described["disabled"] is False

        grown = await ops.ok(
            "resizeServerGroup",
            {"server_group": name, "capacity": {"min": 1, "max": 3, "desired": 3}, **FAST},
        )
        assert grown["healthy_count"] == 3
        assert target.read_group(name) == GroupState(desired=3, instances=3, in_traffic=True)

        described = await ops.ok("describeServerGroup", {"server_group": name})
        victim = sorted(i["id"] for i in described["instances"])[0]
        terminate = {"server_group": name, "instance_ids": [victim], "decrement_desired": True}
        shrunk = await ops.ok("terminateInstances", {**terminate, **FAST})
        assert shrunk["terminated"] == [victim]
        assert target.read_group(name) == GroupState(desired=2, instances=2, in_traffic=True)
        repeat = await ops.ok("terminateInstances", {**terminate, **FAST})
        assert repeat["already_gone"] == [victim]
        assert target.read_group(name) == GroupState(desired=2, instances=2, in_traffic=True)

    # -- NOT_FOUND, repeated requests, rollback ---------------------------------------------------

    async def test_a_missing_group_is_not_found(self, ops: Ops, application: str) -> None:
        """Every verb on a group that does not exist is NOT_FOUND; destroy is done."""
        missing = f"{application}-test-v000"
        one = {"min": 0, "max": 1, "desired": 1}
        payloads: dict[str, dict[str, Any]] = {
            "describeServerGroup": {"server_group": missing},
            "resizeServerGroup": {"server_group": missing, "capacity": one, **FAST},
            "enableServerGroup": {"server_group": missing, **FAST},
            "disableServerGroup": {"server_group": missing, **FAST},
            "cloneServerGroup": {"source": missing, **FAST},
            "terminateInstances": {"server_group": missing, "instance_ids": ["i-0"], **FAST},
        }
        # Every verb of the contract acting on an existing group is checked here.
        assert set(payloads) == set(VERBS) - NOT_ON_A_GROUP
        for verb, payload in payloads.items():
            result = await ops.run(verb, payload)
            assert not result.ok and result.error is not None, verb
            assert result.error.code == "NOT_FOUND", (verb, result.error)
        # Destroying what is not there is done, not an error.
        gone = await ops.ok("destroyServerGroup", {"server_group": missing, **FAST})
        assert gone["changed"] is False

    async def test_a_region_off_the_account_or_no_account_is_invalid_input(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """A region the account does not list, or no account at all: INVALID_INPUT."""
        target = conformance_target
        elsewhere = await ops.run(
            "createServerGroup", target.sample(application), region="no-such-region-1"
        )
        assert not elsewhere.ok and elsewhere.error is not None
        assert elsewhere.error.code == "INVALID_INPUT", elsewhere.error
        missing = {"server_group": f"{application}-test-v000"}
        nowhere = await ops.client.execute(f"{target.provider}.describeServerGroup", missing)
        assert not nowhere.ok and nowhere.error is not None
        assert nowhere.error.code == "INVALID_INPUT", nowhere.error
        assert target.resources(application) == []

    async def test_the_same_request_twice_makes_one_group(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """One request run twice makes one group, and answers the same."""
        target = conformance_target
        payload = target.sample(application)
        request_id = f"{application}-once"
        first = await ops.ok("createServerGroup", payload, request_id=request_id)
        made = target.resources(application)
        second = await ops.ok("createServerGroup", payload, request_id=request_id)
        assert second == first
        assert target.resources(application) == made
        assert target.read_group(first["name"]) == GroupState(2, 2, True)
        assert target.read_group(f"{application}-test-v001") is None

    async def test_a_failed_create_rolls_back_what_it_made(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """A create failing after it made something leaves nothing behind."""
        target = conformance_target
        if target.failing_create is None:
            pytest.skip("the target has no failing create")
        overrides = target.failing_create(application)
        result = await ops.run("createServerGroup", target.sample(application, **overrides))
        assert not result.ok and result.error is not None
        assert result.error.code == target.failing_code, result.error
        assert result.error.rollbacks, "the create made nothing to roll back"
        assert all(r.ok for r in result.error.rollbacks), result.error.rollbacks
        assert target.read_group(f"{application}-test-v000") is None
        assert target.resources(application) == []

    # -- faults and crashes -------------------------------------------------------------------

    async def test_a_lifecycle_through_injected_faults_ends_once(
        self, cloudops_worker: Any, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """Throttling and 503s on 30% of calls: every verb still ends once and right."""
        target = conformance_target
        if target.fault_proxy is None:
            pytest.skip("the target has no fault proxy")
        proxy = target.fault_proxy(FaultRules(throttle=0.15, unavailable=0.15, seed=20240601))
        async with cloudops_worker(
            plugins=[target.plugin],
            load_entrypoints=False,
            accounts=target.accounts_at(proxy.url),
        ) as client:
            ops = Ops(client, target)
            name = await ops.create(application)
            assert target.read_group(name) == GroupState(2, 2, True)
            await ops.ok(
                "resizeServerGroup",
                {"server_group": name, "capacity": {"min": 1, "max": 3, "desired": 3}, **FAST},
            )
            assert target.read_group(name) == GroupState(3, 3, True)
            await ops.ok("disableServerGroup", {"server_group": name, **FAST})
            assert target.read_group(name) == GroupState(3, 3, False)
            await ops.ok("enableServerGroup", {"server_group": name, **FAST})
            assert target.read_group(name) == GroupState(3, 3, True)
            await ops.ok("destroyServerGroup", {"server_group": name, **FAST})
        # Nothing was made twice: after the destroy, nothing of the application is left.
        assert target.resources(application) == []
        injected = proxy.counts
        assert injected["throttle"] + injected["unavailable"] > 0, injected

    async def test_a_worker_killed_during_a_create_finishes_it_once(
        self,
        worker_process: Callable[..., WorkerProcess],
        temporal_client: Client,
        conformance_target: ConformanceTarget,
        application: str,
    ) -> None:
        """A worker SIGKILLed mid-create: a new one finishes it, with no duplicate."""
        target = conformance_target
        if target.fault_proxy is None:
            pytest.skip("the target has no fault proxy")
        # Every call is slowed down, so the create is still running when the worker dies.
        slow = FaultRules(delay=1.0, delay_seconds=0.3, seed=1)
        proxy = target.fault_proxy(slow)
        queue = f"conformance-{uuid.uuid4().hex[:8]}"
        accounts = target.accounts_at(proxy.url)
        plugins = [target.entry_point or target.provider]
        worker = await asyncio.to_thread(worker_process, queue, accounts=accounts, plugins=plugins)
        client = CloudOpsClient(temporal_client, task_queue=queue)
        handle = await client.submit(
            f"{target.provider}.createServerGroup",
            target.sample(application),
            request_id=f"{application}-crash",
            account=target.where["account"],
            region=target.where["region"],
        )
        # Kill it as soon as the group exists in the cloud: mid-create, usually while the call
        # that made it is still in flight (calls are slowed), so its retry must recognise the
        # group as its own rather than make another.
        deadline = time.monotonic() + 60
        while target.read_group(f"{application}-test-v000") is None:
            assert time.monotonic() < deadline, "the create made no group in 60 s"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(worker.kill)
        described = await handle.handle.describe()
        assert described.close_time is None, "the create ended before the worker was killed"

        proxy.rules = replace(slow, delay=0.0)
        await asyncio.to_thread(worker.start)
        result = await asyncio.wait_for(handle.result(), timeout=120)
        assert result.ok and result.value is not None, result.error
        name = result.value["name"]
        assert name == f"{application}-test-v000"
        assert target.read_group(name) == GroupState(2, 2, True)

        # A duplicate made by the crash would outlive the destroy of the group.
        ops = Ops(client, target)
        await ops.ok("destroyServerGroup", {"server_group": name, **FAST})
        assert target.resources(application) == []

    # -- load balancers and security groups ------------------------------------------------------

    async def test_security_group_upsert_converges_describes_and_deletes(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """Upsert creates the group, again changes nothing, changed converges; then delete."""
        target = conformance_target
        if target.security_group_input is None or target.read_security_group is None:
            pytest.skip("the target has no security-group sample")
        read = target.read_security_group
        sample = {**target.security_group_input(application), "stack": NETWORK_STACK}
        name = f"{application}-{NETWORK_STACK}"
        assert sample["ingress"], "the sample security group needs an ingress rule"

        created = await ops.ok("upsertSecurityGroup", sample)
        assert created["name"] == name
        assert created["created"] is True and created["changed"] is True
        assert read(name) == expected_rules(name, sample["ingress"])

        again = await ops.ok("upsertSecurityGroup", sample)
        assert again["changed"] is False, again
        assert read(name) == expected_rules(name, sample["ingress"])

        # One rule revoked (the sample's last), one added.
        opened = {"protocol": "tcp", "from_port": 443, "cidrs": ["0.0.0.0/0"]}
        ingress = [*sample["ingress"][:-1], opened]
        changed = await ops.ok("upsertSecurityGroup", {**sample, "ingress": ingress})
        assert changed["changed"] is True and changed["created"] is False, changed
        wanted = expected_rules(name, ingress)
        assert wanted != expected_rules(name, sample["ingress"])
        assert read(name) == wanted

        described = await ops.ok("describeSecurityGroup", {"name": name})
        assert described["name"] == name
        held = {
            (p["protocol"], p["from_port"], p["to_port"], p["source"]) for p in described["ingress"]
        }
        assert held == wanted
        listed = await ops.ok("listSecurityGroups", {"application": application})
        assert [g["name"] for g in listed["security_groups"]] == [name]
        none = await ops.ok("listSecurityGroups", {"application": f"{application}x"})
        assert none["security_groups"] == []

        deleted = await ops.ok("deleteSecurityGroup", {"name": name})
        assert deleted["changed"] is True
        assert read(name) is None
        missing = await ops.run("describeSecurityGroup", {"name": name})
        assert not missing.ok and missing.error is not None
        assert missing.error.code == "NOT_FOUND", missing.error
        gone = await ops.ok("deleteSecurityGroup", {"name": name})
        assert gone["changed"] is False

    async def test_load_balancer_upsert_converges_and_delete_waits_for_its_groups(
        self, ops: Ops, conformance_target: ConformanceTarget, application: str
    ) -> None:
        """Upsert creates, again changes nothing, changed converges; then describe and list.

        Delete is refused (CONFLICT) while a server group uses it, done after the group's
        destroy, and done again (changed: false) when it is already gone.
        """
        target = conformance_target
        if target.load_balancer_input is None or target.read_load_balancer is None:
            pytest.skip("the target has no load-balancer sample")
        read = target.read_load_balancer
        sample = {**target.load_balancer_input(application), "stack": NETWORK_STACK}
        name = f"{application}-{NETWORK_STACK}"
        ports = frozenset(int(listener["port"]) for listener in sample["listeners"])

        created = await ops.ok("upsertLoadBalancer", sample)
        assert created["name"] == name
        assert created["created"] is True and created["changed"] is True
        assert read(name) == ports

        again = await ops.ok("upsertLoadBalancer", sample)
        assert again["changed"] is False, again
        assert read(name) == ports

        # A listener added on another port, then revoked again.
        first = sample["listeners"][0]
        more = {**sample, "listeners": [*sample["listeners"], {**first, "port": 8000}]}
        added = await ops.ok("upsertLoadBalancer", more)
        assert added["changed"] is True and added["created"] is False, added
        assert read(name) == ports | {8000}
        back = await ops.ok("upsertLoadBalancer", sample)
        assert back["changed"] is True, back
        assert read(name) == ports

        described = await ops.ok("describeLoadBalancer", {"name": name})
        assert described["name"] == name
        assert {listener["port"] for listener in described["listeners"]} == ports
        assert described["server_groups"] == []
        listed = await ops.ok("listLoadBalancers", {"application": application})
        assert [b["name"] for b in listed["load_balancers"]] == [name]

        group = await ops.create(application, load_balancers=[name], wait=False)
        described = await ops.ok("describeLoadBalancer", {"name": name})
        assert described["server_groups"] == [group]
        refused = await ops.run("deleteLoadBalancer", {"name": name})
        assert not refused.ok and refused.error is not None
        assert refused.error.code == "CONFLICT", refused.error
        assert read(name) == ports

        await ops.ok("destroyServerGroup", {"server_group": group, **FAST})
        deleted = await ops.ok("deleteLoadBalancer", {"name": name})
        assert deleted["changed"] is True
        assert read(name) is None
        missing = await ops.run("describeLoadBalancer", {"name": name})
        assert not missing.ok and missing.error is not None
        assert missing.error.code == "NOT_FOUND", missing.error
        gone = await ops.ok("deleteLoadBalancer", {"name": name})
        assert gone["changed"] is False
        assert target.resources(application) == []

    def test_the_network_tests_cover_every_network_verb(self) -> None:
        """The two network tests above cover every verb of the network contract."""
        covered = {
            "upsertLoadBalancer",
            "deleteLoadBalancer",
            "describeLoadBalancer",
            "listLoadBalancers",
            "upsertSecurityGroup",
            "deleteSecurityGroup",
            "describeSecurityGroup",
            "listSecurityGroups",
        }
        assert covered == set(NETWORK_VERBS)
