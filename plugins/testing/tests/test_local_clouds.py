"""Every registered local cloud keeps the profile contract the demo, dev and chaos rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import cloudops
from cloudops.localcloud import Audit, LocalCloud, RunningCloud, local_clouds
from cloudops.registry import CloudOps, RegistrationError
from cloudops_testing.pytest_plugin import accounts_from

PROFILES = local_clouds(CloudOps())


def test_the_workspace_providers_register_their_local_clouds() -> None:
    assert {"aws", "gcp", "azure"} <= set(PROFILES)
    prefixes = [profile.app_prefix for profile in PROFILES.values()]
    assert len(set(prefixes)) == len(prefixes)  # chaos applications never collide
    for name, profile in PROFILES.items():
        assert isinstance(profile, LocalCloud) and profile.name == name
        assert profile.missing() == []


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_local_cloud_starts_with_an_account_a_sample_group_and_an_empty_audit(
    name: str, local_cloud: Callable[[str], RunningCloud]
) -> None:
    cloud = local_cloud(name)
    accounts = cloud.accounts()
    assert list(accounts) == [cloud.account]
    table = accounts[cloud.account]
    assert table["provider"] == name and table["endpoint"] == cloud.proxy.url
    assert cloud.region in table["regions"]
    book = accounts_from({"accounts": accounts}, CloudOps(allow=[name]))
    assert cloud.account in book.accounts  # the provider accepts the settings
    app = f"lc{name}"
    cloud.prepare_application(app)
    sample = cloud.server_group(app, capacity={"min": 0, "max": 1, "desired": 1}, tags={})
    assert sample["application"] == app and sample["stack"] == "web" and sample["zones"]
    assert cloud.cluster_state(f"{app}-web") == []
    assert cloud.audit({}) == Audit()
    assert cloud.fault_counts().get("forwarded", 0) == 0  # arranging went straight to the cloud


def test_registering_something_that_is_not_a_local_cloud_is_refused() -> None:
    class Bad:
        @cloudops.hookimpl
        def register_local_clouds(self, register: Callable[[Any], None]) -> None:
            register("aws")

    with pytest.raises(RegistrationError, match="not a LocalCloud"):
        local_clouds(CloudOps([Bad()], load_entrypoints=False))
