"""Running a worker until told to stop: shared by ``cloudops worker``, ``dev`` and ``demo``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from cloudops import search_attributes as sa
from cloudops.accounts import AccountBook
from cloudops.registry import CloudOps
from cloudops.worker import build_worker

__all__ = ["SearchAttributesError", "ensure_search_attributes", "serve", "warm_up_providers"]


class SearchAttributesError(RuntimeError):
    """The server lacks the cloudops search attributes and they could not be added."""


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the cloudops search attributes that the namespace lacks; return those added."""
    namespace = client.namespace
    try:
        listing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        raise SearchAttributesError(
            f"cannot list search attributes of namespace {namespace!r}: {err.message}"
        ) from err
    present = set(listing.custom_attributes) | set(listing.system_attributes)
    missing = [key.name for key in sa.ALL if key.name not in present]
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    except RPCError as err:
        commands = "; ".join(
            f"temporal operator search-attribute create --namespace {namespace} --name {name} "
            "--type Keyword"
            for name in missing
        )
        raise SearchAttributesError(
            f"namespace {namespace!r} lacks the search attributes {', '.join(missing)} and "
            f"they could not be added ({err.message}). Ask an admin to run: {commands}; "
            "or start the worker with --no-search-attributes"
        ) from err
    return missing


def warm_up_providers(cloudops: CloudOps, accounts: AccountBook) -> list[threading.Thread]:
    """Import the SDK of every provider the worker has an account of, in background threads.

    Why: a worker replacing a killed one gets the lost attempt after the heartbeat timeout, and
    should not then spend seconds importing its cloud SDK (google-cloud-compute takes several).
    """
    threads: list[threading.Thread] = []
    for entry in cloudops.catalogue.providers.values():
        warm = entry.provider.warm_up
        if warm is None or not accounts.names(entry.provider.name):
            continue
        thread = threading.Thread(
            target=_quietly, args=(warm,), name=f"warm-up-{entry.provider.name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def _quietly(warm: Callable[[], None]) -> None:
    try:
        warm()
    except Exception:  # the first activity will import it, and report a real error
        logging.getLogger(__name__).debug("warm-up failed", exc_info=True)


async def serve(
    client: Client,
    cloudops: CloudOps,
    *,
    task_queue: str,
    accounts: AccountBook,
    search_attributes: bool = True,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    **worker_options: Any,
) -> None:
    """Run a worker until SIGINT/SIGTERM (or ``stop``), then shut it down cleanly.

    The search attributes are checked on the server while the worker is being built: the
    round trip overlaps the CPU work instead of adding to the start-up.
    """
    checking = (
        asyncio.ensure_future(ensure_search_attributes(client)) if search_attributes else None
    )
    if checking is not None:
        await asyncio.sleep(0)  # let the check send its request before the CPU-bound build
    try:
        worker = build_worker(
            client,
            cloudops,
            task_queue=task_queue,
            accounts=accounts,
            search_attributes=search_attributes,
            **worker_options,
        )
    except BaseException:
        if checking is not None:
            checking.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await checking
        raise
    if checking is not None:
        await checking
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with worker:
        warm_up_providers(cloudops, accounts)
        if on_ready is not None:
            maybe = on_ready()
            if maybe is not None:
                await maybe
        await stop.wait()
