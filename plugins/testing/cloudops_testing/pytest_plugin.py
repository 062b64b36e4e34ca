"""pytest plugin (entry point ``pytest11``): real Temporal and workers for plugin authors.

Fixtures:

- ``temporal_server`` (session): a ``temporal server start-dev`` on free loopback ports, with the
  cloudops search attributes registered; one per test session.
- ``temporal_client`` (session): a client of it with the pydantic data converter.
- ``cloudops_worker``: a factory; ``async with cloudops_worker(plugins=[...]) as ops`` runs a
  worker in this process on a task queue of its own and gives a ``CloudOpsClient`` bound to it.
- ``worker_process``: a factory of ``cloudops worker`` child processes, for crash tests.
- ``local_cloud`` (session): a factory of the local clouds the installed providers register
  (``local_cloud("gcp")``: the emulator behind a fault proxy, with its account), any provider's.

Async fixtures run on the session event loop: set ``asyncio_default_fixture_loop_scope`` and
``asyncio_default_test_loop_scope`` to ``"session"`` in your pytest configuration.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from cloudops.accounts import AccountBook, FileConfig
from cloudops.client import CloudOpsClient, connect_client
from cloudops.localcloud import RunningCloud
from cloudops.registry import CloudOps
from cloudops.server import DevServer
from cloudops.shutdown import hard_exit
from cloudops.worker import account_book, build_worker
from cloudops_testing.processes import WorkerProcess

WorkerFactory = Callable[..., AbstractAsyncContextManager[CloudOpsClient]]

_ran_worker = False
_exit_status: list[int] = []


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One Temporal dev server for the whole session (SQLite file, free ports, headless)."""
    folder = tmp_path_factory.mktemp("temporal")
    server = DevServer(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="session")
async def temporal_client(temporal_server: DevServer) -> Client:
    """A client of the session's server with the pydantic data converter."""
    global _ran_worker
    _ran_worker = True  # the SDK's exit abort can follow a client's use too
    return await connect_client(temporal_server.address, connect_timeout=30)


def accounts_from(config: dict[str, Any], cloudops: CloudOps) -> AccountBook:
    """An account book from a ``cloudops.toml``-shaped dict, validated by the providers."""
    return account_book(cloudops, FileConfig.model_validate(config))


@pytest.fixture
def cloudops_worker(temporal_client: Client) -> WorkerFactory:
    """Factory running a cloudops worker in this process, on a task queue of its own.

    ``plugins``: extra plugin objects; ``load_entrypoints``: also load installed plugins
    (``allow``: only these entry-point names);
    ``accounts``: a ``{"accounts": {...}}`` dict shaped like ``cloudops.toml``.
    """

    @asynccontextmanager
    async def start(
        plugins: Sequence[object] = (),
        *,
        load_entrypoints: bool = True,
        allow: Sequence[str] | None = None,
        accounts: dict[str, Any] | None = None,
        task_queue: str | None = None,
        **worker_options: Any,
    ) -> AsyncIterator[CloudOpsClient]:
        global _ran_worker
        _ran_worker = True
        cloudops = CloudOps(plugins, load_entrypoints=load_entrypoints, allow=allow)
        book = accounts_from(accounts or {}, cloudops)
        queue = task_queue or f"test-{uuid.uuid4().hex[:12]}"
        worker = build_worker(
            temporal_client, cloudops, task_queue=queue, accounts=book, **worker_options
        )
        async with worker:
            yield CloudOpsClient(temporal_client, task_queue=queue)

    return start


@pytest.fixture
def worker_process(
    temporal_server: DevServer, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory of ``cloudops worker`` child processes (which tests may SIGKILL).

    ``worker_process(task_queue, accounts={...}, plugins=["aws"], env={...})`` starts one and
    waits until it polls; every one started is killed at the end of the test.
    """
    from cloudops_testing.stack import write_config

    started: list[WorkerProcess] = []

    def start(
        task_queue: str,
        *,
        accounts: dict[str, Any] | None = None,
        plugins: list[str] | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> WorkerProcess:
        config = write_config(tmp_path / f"cloudops-{len(started)}.toml", accounts or {})
        process = WorkerProcess(
            temporal_server.address,
            task_queue,
            config=config,
            plugins=plugins,
            env=env,
            log_file=tmp_path / f"worker-{len(started)}.log",
            args=args,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="session")
def local_cloud() -> Iterator[Callable[[str], RunningCloud]]:
    """Factory of registered local clouds, each started once for the session.

    ``cloud = local_cloud("aws")`` gives a :class:`~cloudops.localcloud.RunningCloud`: its
    ``accounts()`` for ``cloudops_worker(accounts={"accounts": ...})``, ``server_group(...)``
    for a sample input, ``cluster_state``/``audit`` to read the cloud back, ``proxy.rules`` to
    inject faults. Every cloud started is stopped at the end of the session.
    """
    from cloudops.localcloud import local_clouds

    profiles = local_clouds(CloudOps())
    started: dict[str, RunningCloud] = {}
    saved = dict(os.environ)  # a local cloud may set dummy credentials in this process

    def start(name: str) -> RunningCloud:
        if name not in profiles:
            raise LookupError(f"no local cloud {name!r}; registered: {', '.join(profiles)}")
        if name not in started:
            started[name] = profiles[name].start()
        return started[name]

    try:
        yield start
    finally:
        for cloud in started.values():
            cloud.stop()
        os.environ.clear()
        os.environ.update(saved)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the exit status for :func:`pytest_unconfigure`."""
    _exit_status[:] = [int(exitstatus)]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process with pytest's status once a Temporal worker ran in it.

    temporalio's core can abort the interpreter at exit after a worker ran (sdk-python#300),
    which would turn a green run red; everything has been reported by now.
    """
    if _ran_worker and _exit_status and not os.environ.get("CLOUDOPS_TESTING_NO_HARD_EXIT"):
        hard_exit(_exit_status[0])


from cloudops_testing.fixtures_aws import *  # noqa: E402, F403  (AWS fixtures)
from cloudops_testing.fixtures_azure import *  # noqa: E402, F403  (Azure fixtures)
from cloudops_testing.fixtures_gcp import *  # noqa: E402, F403  (GCP fixtures)
from cloudops_testing.fixtures_specs import *  # noqa: E402, F403  (spec conformance)
