"""Cloud API budgets in cloudops.toml: parsing, invalid budgets, and routing on a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloudops.accounts import AccountCheck, ConfigError, FileConfig
from cloudops.budgets import (
    MAX_RATE,
    SHARED_ATTEMPTS,
    BudgetError,
    attempt_weight,
    parse_budget,
)
from cloudops.registry import CloudOps
from cloudops.worker import account_book

DEFAULTS = {"reads": 8.0, "mutations": 4.0}


def book(budget: Any, provider: str = "aws", **settings: Any) -> Any:
    cloudops = CloudOps(load_entrypoints=True, allow=[provider])
    account = {"provider": provider, "regions": ["r1"], "budget": budget, **settings}
    config = {"accounts": {"prod": account}}
    return account_book(cloudops, FileConfig.model_validate(config))


def test_an_empty_table_takes_the_providers_defaults() -> None:
    policy = parse_budget("prod", {}, DEFAULTS)
    assert policy.for_region("r1") == DEFAULTS


def test_shared_family_and_region_rates() -> None:
    policy = parse_budget(
        "prod",
        {"calls_per_second": 5, "reads": 20, "regions": {"r2": {"reads": 40, "mutations": 2}}},
        DEFAULTS,
    )
    assert policy.for_region("r1") == {"calls": 5.0, "reads": 20.0}
    assert policy.for_region("r2") == {"calls": 5.0, "reads": 40.0, "mutations": 2.0}


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"reads": -1}, r"accounts\.prod\.budget\.reads: must be more than 0"),
        ({"mutations": 0}, r"accounts\.prod\.budget\.mutations: must be more than 0"),
        ({"writes": 3}, r"accounts\.prod\.budget\.writes: unknown API family 'writes'"),
        ({"reads": "fast"}, r"accounts\.prod\.budget\.reads: must be a number"),
        (
            {"regions": {"r1": {"calls_per_second": 0}}},
            r"accounts\.prod\.budget\.regions\.r1\.calls_per_second: must be more than 0",
        ),
        ({"regions": {"r1": {"lists": 1}}}, r"budget\.regions\.r1\.lists: unknown API family"),
    ],
)
def test_invalid_budgets_name_the_key(budget: dict[str, Any], message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        parse_budget("prod", budget, DEFAULTS)
    with pytest.raises(ConfigError, match=message):
        book(budget)


def test_the_account_check_carries_the_budget_of_the_region() -> None:
    accounts = book({"reads": 3, "regions": {"r1": {"mutations": 1}}})
    checked = accounts.check(
        AccountCheck(
            operation="aws.describeServerGroup",
            provider="aws",
            needs_account=True,
            account="prod",
            region="r1",
        )
    )
    assert checked.budget == {"reads": 3.0, "mutations": 1.0}
    assert checked.budget_region == "r1"
    gcp = book({}, provider="gcp", project="proj-one").accounts["prod"].budget
    assert gcp is not None and gcp.scope("r1") is None  # GCP meters the whole project


def test_an_invalid_budget_stops_the_worker_at_start(tmp_path: Path) -> None:
    config = tmp_path / "cloudops.toml"
    config.write_text(
        '[accounts.prod]\nprovider = "aws"\n\n[accounts.prod.budget]\nreads = 5\nwrites = 3\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "cloudops", "worker", "--config", str(config)],
        env={"TEMPORAL_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "accounts.prod.budget.writes" in " ".join(done.stderr.split())


def test_an_attempts_weight_counts_its_calls() -> None:
    # Temporal charges each task 1 / its weight of its key's 1 task/s: budget / calls a second.
    assert attempt_weight(10.0) == 10.0
    assert attempt_weight(10.0, 2.0) == 5.0
    assert attempt_weight(10.0, 2.0, shared=True) == 10.0 * SHARED_ATTEMPTS / 2
    assert attempt_weight(MAX_RATE, 0.5, shared=True) == MAX_RATE


def test_the_aws_provider_declares_its_multi_call_activities() -> None:
    from cloudops_aws.plugin import AWS

    assert AWS.activity_calls["aws.create_launch_template"] == 2.0
    assert "aws.next_server_group_name" in AWS.shared_read_activities
