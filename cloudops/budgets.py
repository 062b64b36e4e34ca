"""Cloud API budgets: how many calls per second cloudops may make per account, region and family.

Why: the clouds throttle per account and region (AWS per account and region, one bucket per
service or family; Azure Resource Manager per subscription, reads and writes apart; GCP per
project). Retrying throttled calls only makes a storm worse for everyone in the account, so
cloudops spends each account's budget up front, across the whole fleet of workers.

.. code-block:: toml

    [accounts.prod-aws]
    provider = "aws"
    regions = ["us-east-1", "eu-west-1"]

    [accounts.prod-aws.budget]        # an empty table: the provider's documented defaults
    reads = 20                         # calls per second in each region (the cloud's scope)
    mutations = 5

    [accounts.prod-aws.budget.regions.us-east-1]
    reads = 40                         # this region only

``calls_per_second`` sets every family at once; ``reads`` and ``mutations`` override it. An
account without a ``budget`` table is not budgeted (cloudops only reacts to throttling).

How the budget is held across the fleet (no coordinator of our own): every activity of a
budgeted account is scheduled on the worker queue's *budget queue* (``QUEUE-budgeted``) with
the Temporal fairness key ``account/region/family`` and a fairness weight of its budget divided
by the calls one attempt makes (:func:`attempt_weight`). Each worker sets that queue's per-key
rate limit to :data:`BASE_RATE` (1 task/s) at start (``UpdateTaskQueueConfig``), and the server
charges each task ``1 / its weight`` of its key's second, so it dispatches at most ``budget``
calls' worth of attempts per second per key to the whole fleet, whatever the number of workers
and whatever the mix of activities, and one spent key never
holds back another (fairness; exact and isolated with the server settings of
:data:`BUDGET_QUEUE_DYNAMIC_CONFIG`, which :func:`dev_server_flags` gives the dev server).
Inside an activity, :func:`pace` spaces the calls of one account, region and family in this
process (pyrate-limiter), so an activity making several calls does not burst. The account
check records the budget in the workflow's history, so a replay routes exactly as the run did
even if ``cloudops.toml`` changed since.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BASE_RATE",
    "BUDGET_QUEUE_DYNAMIC_CONFIG",
    "FAMILIES",
    "BudgetError",
    "BudgetPolicy",
    "attempt_weight",
    "budget_family",
    "budget_queue",
    "declare_calls",
    "dev_server_flags",
    "fairness_key",
    "pace",
    "parse_budget",
]

#: The API families a budget may name: calls that only read, and calls that change something.
FAMILIES = ("reads", "mutations")
#: The per-fairness-key rate limit of a budget queue, in tasks per second; a key's weight
#: scales it, so a weight equals a budget in calls per second.
BASE_RATE = 1.0
#: The largest budget a weight can express (Temporal clamps fairness weights).
MAX_RATE = 1000.0
#: The budget key of ``calls_per_second``: one budget shared by the families without their own.
SHARED = "calls"
_RATE_KEYS = ("calls_per_second", *FAMILIES)


class BudgetError(ValueError):
    """A budget in ``cloudops.toml`` is invalid; the message names the key."""


#: Temporal dynamic config a budget queue needs (the defaults are 4 partitions and 5 s):
#: fairness-key rate limits are enforced per partition, so with 4 a queue dispatched about
#: 0.6-0.7x of its budget; and once the head of a partition's backlog (a spent key's tasks)
#: is older than ``backlogNegligibleAge``, the server stops sync-matching new tasks, so every
#: other key's tasks took the slower backlog path (written to and read back from the store).
BUDGET_QUEUE_DYNAMIC_CONFIG: dict[str, object] = {
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
    "matching.backlogNegligibleAge": "87600h",
}


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` flags setting :data:`BUDGET_QUEUE_DYNAMIC_CONFIG`.

    The dev server's ``--dynamic-config-value`` is namespace-wide (no per-queue constraint);
    one process gains nothing from partitions, and sync matching a task while an older one of
    another key waits is what fairness wants anyway. On a cluster, set these keys for the
    ``*-budgeted`` task queues only (a ``taskQueueName`` constraint in the dynamic config file).
    """
    return [
        flag
        for key, value in BUDGET_QUEUE_DYNAMIC_CONFIG.items()
        for flag in ("--dynamic-config-value", f"{key}={json.dumps(value)}")
    ]


#: Attempts per call of the budget that shared-read activities (waits whose concurrent attempts
#: share their reads, :mod:`cloudops.batching`) may start: N waits polling every 10 s need
#: N / 10 attempts a second, most of them making no call of their own. Their calls are paced
#: under the family's budget in every process (:func:`pace_current`).
SHARED_ATTEMPTS = 25.0
_SHARED = "/shared"


def shared_key(key: str) -> str:
    """The fairness key of the shared-read attempts of budget ``key``."""
    return key + _SHARED


def attempt_weight(budget: float, calls: float = 1.0, *, shared: bool = False) -> float:
    """The fairness weight of one attempt of an activity making ``calls`` calls of ``budget``.

    Temporal charges each task dispatched under a key ``1 / (BASE_RATE x its own weight)``
    seconds of the key's rate limit (the weight is the task's, not the key's), so an attempt
    weighted ``budget / calls`` takes ``calls`` calls' worth of the budget: the server counts
    calls, not attempts, and an activity making several calls is not dispatched faster than
    the workers may make them. Shared reads (their attempts usually make no call of their own)
    go :data:`SHARED_ATTEMPTS` times faster under a key of their own.
    """
    weight = budget / max(calls, 1e-3) * (SHARED_ATTEMPTS if shared else 1.0)
    return min(weight, MAX_RATE) / BASE_RATE


#: Activity name -> calls one attempt is expected to make (``Provider.activity_calls``), for
#: the pacing to recover the budget from an attempt's weight (:func:`pace_current`).
_calls: dict[str, float] = {}


def declare_calls(calls: Mapping[str, float]) -> None:
    """Record the expected calls per attempt of activities (the worker does, from its plugins)."""
    _calls.update(calls)


def budget_queue(task_queue: str) -> str:
    """The activity task queue the budgeted activities of ``task_queue``'s workflows go to."""
    return f"{task_queue}-budgeted"


def fairness_key(account: str, region: str | None, family: str) -> str:
    """The fairness key of one budget: ``account/region/family`` (region ``*``: any)."""
    return f"{account}/{region or '*'}/{family}"


def _rate(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BudgetError(f"{key}: must be a number of calls per second, got {value!r}")
    if value <= 0:
        raise BudgetError(f"{key}: must be more than 0 calls per second, got {value}")
    if value > MAX_RATE:
        raise BudgetError(f"{key}: at most {MAX_RATE:g} calls per second, got {value}")
    return float(value)


def _rates(table: Mapping[str, Any], where: str, *, allow_regions: bool) -> dict[str, float]:
    rates: dict[str, float] = {}
    for key, value in table.items():
        if key == "regions" and allow_regions:
            continue
        if key not in _RATE_KEYS:
            known = ", ".join(_RATE_KEYS) + (", regions" if allow_regions else "")
            raise BudgetError(f"{where}.{key}: unknown API family {key!r} (known: {known})")
        rates[SHARED if key == "calls_per_second" else key] = _rate(value, f"{where}.{key}")
    return rates


@dataclass(frozen=True)
class BudgetPolicy:
    """One account's budget: calls per second per family, per region where it differs.

    A family without a rate of its own shares the ``calls_per_second`` one (key ``calls``).
    ``per_region``: the cloud meters each region apart (AWS, Azure), so every region gets the
    whole budget; otherwise (GCP: per project) one budget covers all regions.
    """

    rates: Mapping[str, float]
    regions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    per_region: bool = True

    def for_region(self, region: str | None) -> dict[str, float]:
        """Budget key (a family, or ``calls``) -> calls per second in ``region``."""
        merged = dict(self.rates)
        if region is not None:
            merged.update(self.regions.get(region, {}))
        return merged

    def scope(self, region: str | None) -> str | None:
        """The region a budget key names (None when the cloud meters the whole account)."""
        return region if self.per_region else None


def budget_family(rates: Mapping[str, float], family: str) -> str | None:
    """The key of ``rates`` that budgets calls of ``family`` (its own, else ``calls``)."""
    if family in rates:
        return family
    return SHARED if SHARED in rates else None


def parse_budget(
    account: str,
    table: Any,
    defaults: Mapping[str, float],
    *,
    per_region: bool = True,
) -> BudgetPolicy:
    """Validate ``[accounts.ACCOUNT.budget]``; an empty table takes the provider's ``defaults``.

    ``calls_per_second`` is one budget shared by every family; ``reads`` and ``mutations``
    give a family a budget of its own. Raises :class:`BudgetError` naming the key
    (``accounts.prod.budget.writes: unknown API family``) for a negative or zero rate, a
    non-number or an unknown family.
    """
    where = f"accounts.{account}.budget"
    if not isinstance(table, Mapping):
        raise BudgetError(f"{where}: must be a table of calls per second, got {table!r}")
    rates = _rates(table, where, allow_regions=True) or dict(defaults)
    if not rates:
        raise BudgetError(
            f"{where}: the provider has no default budget; set calls_per_second, reads "
            "and/or mutations"
        )
    regions_table = table.get("regions", {})
    if not isinstance(regions_table, Mapping):
        raise BudgetError(f"{where}.regions: must be a table of regions")
    regions = {}
    for region, sub in regions_table.items():
        if not isinstance(sub, Mapping):
            raise BudgetError(f"{where}.regions.{region}: must be a table of calls per second")
        regions[str(region)] = _rates(sub, f"{where}.regions.{region}", allow_regions=False)
    return BudgetPolicy(rates=rates, regions=regions, per_region=per_region)


# --------------------------------------------------------------------------------------------
# In-process pacing of calls (inside activities)
# --------------------------------------------------------------------------------------------

_limiters: dict[tuple[str, float], Any] = {}
_limiters_lock = threading.Lock()


def pace(key: str, rate: float, *, timeout: float = 60.0) -> None:
    """Block until this process may make one more call of budget ``key`` at ``rate`` calls/s.

    Calls are spaced evenly (one every ``1/rate`` seconds, no burst) by a pyrate-limiter
    limiter per key, shared by every thread of the process. Blocking: call it from the
    activity's worker thread, before each SDK request.
    """
    from pyrate_limiter import Limiter, Rate

    with _limiters_lock:
        limiter = _limiters.get((key, rate))
        if limiter is None:
            interval = max(1, round(1000.0 / rate))
            limiter = _limiters[(key, rate)] = Limiter(Rate(1, interval), buffer_ms=1)
    limiter.try_acquire(key, blocking=True, timeout=timeout)


def pace_current() -> None:
    """In an activity scheduled under a budget: wait for this process's turn for one call.

    The budget travels with the activity task (its fairness key and weight), so an SDK hook
    can call this before every request without knowing the account; outside an activity, or
    for an activity without a budget, it returns at once.
    """
    from temporalio import activity

    if not activity.in_activity():
        return
    info = activity.info()
    key, weight = info.priority.fairness_key, info.priority.fairness_weight
    if not key or not weight:
        return
    budget = weight * BASE_RATE * _calls.get(info.activity_type, 1.0)  # attempt_weight undone
    if key.endswith(_SHARED):  # a shared read: paced as its family
        key, budget = key.removesuffix(_SHARED), budget / SHARED_ATTEMPTS
    if key.count("/") == 2:
        pace(key, budget / _fleet[0])


#: How many workers poll the budget queue (this one included), as the server last said.
_fleet = [1]


def fleet_size() -> int:
    """The number of workers sharing the budgets, as :func:`watch_fleet` last counted them."""
    return _fleet[0]


async def count_pollers(client: Any, queue: str, *, within: float = 120.0) -> int:
    """Distinct worker identities that polled activity queue ``queue`` in the last ``within`` s."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    now = time.time()
    return len(
        {
            p.identity
            for p in answer.pollers
            if not p.HasField("last_access_time") or now - p.last_access_time.ToSeconds() <= within
        }
    )


async def watch_fleet(client: Any, queue: str, *, every: float = 5.0) -> None:
    """Keep :func:`fleet_size` up to date from the budget queue's pollers, until cancelled.

    Why: Temporal's per-key rate limit bounds how many *activities* start per second; an
    activity may make several calls. Each worker paces its calls at ``budget / workers``, so
    the calls of the whole fleet stay within the budget too. The membership is Temporal's own
    list of pollers, not a coordinator of ours; a worker that joins is counted within
    ``every`` seconds (until then the fleet may make up to ``(n+1)/n`` of the budget).
    """
    import asyncio
    import logging

    while True:
        try:
            _fleet[0] = max(1, await count_pollers(client, queue))
        except Exception:  # keep the last count; the server-side limit still holds
            logging.getLogger(__name__).debug("cannot count budget pollers", exc_info=True)
        await asyncio.sleep(every)


async def configure_budget_queue(client: Any, queue: str) -> None:
    """Set the per-fairness-key rate limit of budget queue ``queue`` to :data:`BASE_RATE`.

    Idempotent; every worker with budgeted accounts calls it at start. Needs a Temporal server
    with task queue configuration (Server 1.29+); an older one fails the worker's start.
    """
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
    from temporalio.service import RPCError

    request = UpdateTaskQueueConfigRequest(
        namespace=client.namespace,
        identity=client.identity,
        task_queue=queue,
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    limit = request.update_fairness_key_rate_limit_default
    limit.rate_limit.requests_per_second = BASE_RATE
    limit.reason = "cloudops budgets: a fairness key's weight is its calls per second"
    try:
        await client.workflow_service.update_task_queue_config(request)
    except RPCError as err:
        raise RuntimeError(
            f"cannot set the rate limits of budget queue {queue!r} ({err.message}): cloud API "
            "budgets need a Temporal server with task queue configuration (1.29 or later)"
        ) from err
