"""Request validation, as ARM answers it: references, images, sizes, quota, tags.

Why a module of its own: these checks decide the error a client sees (code, status, message)
before anything changes, and reading them in one place is how to compare them with the real
service's answers. ``ArmChecks`` is a mixin of :class:`~.state.ArmState`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from cloudops_testing.azure_emulator.errors import ArmError, resource_group_not_found
from cloudops_testing.azure_emulator.resources import (
    EmulatorSettings,
    LoadBalancer,
    Operation,
    ScaleSet,
    pool_refs,
    subnet_refs,
)

__all__ = ["DEFAULT_IMAGES", "ArmChecks"]

_BAD_TAG_CHARS = re.compile(r"[<>%&\\?/]")
_POOL = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/"
    r"loadBalancers/([^/]+)/backendAddressPools/([^/]+)$",
    re.IGNORECASE,
)
#: User names Azure refuses for a VM's administrator (Microsoft Learn, "What are the username
#: requirements when creating a VM?", learn.microsoft.com/azure/virtual-machines/linux/faq).
DISALLOWED_ADMIN_USERNAMES = frozenset(
    [
        "administrator",
        "admin",
        "user",
        "user1",
        "test",
        "user2",
        "test1",
        "user3",
        "admin1",
        "1",
        "123",
        "a",
        "actuser",
        "adm",
        "admin2",
        "aspnet",
        "backup",
        "console",
        "david",
        "guest",
        "john",
        "owner",
        "root",
        "server",
        "sql",
        "support",
        "support_388945a0",
        "sys",
        "test2",
        "test3",
        "user4",
        "user5",
    ]
)
#: Platform images every emulator knows (``publisher:offer:sku``; any version is accepted).
DEFAULT_IMAGES = (
    "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2",
    "Canonical:ubuntu-24_04-lts:server",
    "MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition",
)


class ArmChecks:
    """The validation half of the state: every check raises the ArmError ARM would send."""

    settings: EmulatorSettings
    lock: threading.RLock
    resource_groups: dict[tuple[str, str], tuple[str, str]]
    subnets: dict[str, str]
    load_balancers: dict[tuple[str, str, str], LoadBalancer]
    images: set[str]
    scale_sets: dict[tuple[str, str, str], ScaleSet]
    operations: dict[str, Operation]
    unavailable_skus: set[str]
    requests: Counter[tuple[str, str]]

    def require_group(self, subscription: str, resource_group: str) -> str:
        """The resource group's location; ``ResourceGroupNotFound`` if it does not exist."""
        found = self.resource_groups.get((subscription.lower(), resource_group.lower()))
        if found is None:
            raise resource_group_not_found(resource_group)
        return found[1]

    def _check_references(self, scale_set_id: str, network: list[dict[str, Any]]) -> None:
        for ref in subnet_refs(network):
            if ref.lower() not in self.subnets:
                raise _invalid_reference(ref, scale_set_id)
        for ref in pool_refs(network):
            match = _POOL.match(ref)
            balancer = (
                self.load_balancers.get(
                    (match.group(1).lower(), match.group(2).lower(), match.group(3).lower())
                )
                if match
                else None
            )
            if match is None or balancer is None or match.group(4).lower() not in balancer.pools:
                raise _invalid_reference(ref, scale_set_id)

    def _check_image(self, profile: dict[str, Any]) -> None:
        image = (profile.get("storageProfile") or {}).get("imageReference")
        if not isinstance(image, dict) or not image:
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'imageReference' is missing (null).",
                "imageReference",
            )
        if image.get("id"):
            known = str(image["id"]).lower() in self.images
            label = f"Id: {image['id']}"
        else:
            urn = ":".join(str(image.get(k, "")) for k in ("publisher", "offer", "sku"))
            known = urn.lower() in self.images
            label = (
                f"Publisher: {image.get('publisher')}, Offer: {image.get('offer')}, "
                f"Sku: {image.get('sku')}, Version: {image.get('version')}"
            )
        if not known:
            raise ArmError(
                400,
                "InvalidParameter",
                "The following list of images referenced from the deployment template are not "
                f"found: {label}. Please refer to https://aka.ms/azure-vm-images for details.",
                "imageReference",
            )

    @staticmethod
    def _check_os_profile(os_profile: dict[str, Any]) -> None:
        """A Linux profile must enable SSH keys or a password; some admin names are refused.

        Follows azure-rest-api-specs (Microsoft.Compute ``LinuxConfiguration``:
        ``disablePasswordAuthentication`` and ``ssh.publicKeys``) and real ARM's answer to a
        profile with password authentication disabled and no key: 400 ``InvalidParameter``,
        target ``linuxConfiguration``. A password, when enabled, is required too.
        """
        user = str(os_profile.get("adminUsername"))
        if user.lower() in DISALLOWED_ADMIN_USERNAMES:
            raise ArmError(
                400,
                "InvalidParameter",
                "The Admin Username specified is not allowed.",
                "adminUsername",
            )
        linux = os_profile.get("linuxConfiguration")
        if not isinstance(linux, dict):
            return
        keys = (linux.get("ssh") or {}).get("publicKeys") or []
        no_password = linux.get("disablePasswordAuthentication") is True
        if no_password and not keys:
            raise ArmError(
                400,
                "InvalidParameter",
                "Authentication using either SSH or by user name and password must be enabled "
                "in Linux profile.",
                "linuxConfiguration",
            )
        if not no_password and not os_profile.get("adminPassword"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'adminPassword' is missing (null).",
                "adminPassword",
            )

    def _check_sku(self, sku: Any, location: str) -> None:
        if not isinstance(sku, dict) or not sku.get("name"):
            raise ArmError(
                400, "InvalidParameter", "Required parameter 'sku' is missing (null).", "sku"
            )
        capacity = sku.get("capacity")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value {capacity!r} of parameter 'sku.capacity' is out of range.",
                "sku.capacity",
            )
        if str(sku["name"]).lower() in self.unavailable_skus:
            raise ArmError(
                409,
                "SkuNotAvailable",
                f"The requested VM size for resource 'Following SKUs have failed for Capacity "
                f"Restrictions: {sku['name']}' is currently not available in location "
                f"'{location}'. Please try another size or deploy to a different location or "
                "different zone.",
            )

    def _check_quota(self, scale_set: ScaleSet, capacity: int) -> None:
        quota = self.settings.instance_quota
        if quota is None:
            return
        used = sum(
            len(other.alive())
            for key, other in self.scale_sets.items()
            if key[0] == scale_set.subscription.lower()
            and other.location == scale_set.location
            and other is not scale_set
        )
        if used + capacity > quota:
            raise ArmError(
                409,
                "OperationNotAllowed",
                "Operation could not be completed as it results in exceeding approved "
                f"Total Regional Cores quota. Location: {scale_set.location}, Current Limit: "
                f"{quota}, Current Usage: {used}, Additional Required: {capacity}, (Minimum) "
                f"New Limit Required: {used + capacity}.",
            )

    @staticmethod
    def _check_tags(tags: Any) -> dict[str, str]:
        if tags is None:
            return {}
        if not isinstance(tags, dict):
            raise ArmError(400, "InvalidRequestContent", "The tags property must be an object.")
        if len(tags) > 50:
            raise ArmError(
                400, "InvalidTag", "The number of tags exceeds the maximum of 50 per resource."
            )
        for key, value in tags.items():
            if _BAD_TAG_CHARS.search(key) or not key or len(key) > 512:
                raise ArmError(
                    400,
                    "InvalidTagNameCharacters",
                    f"The tag names '{key}' have reserved characters '<,>,%,&,\\,?,/' or "
                    "control characters.",
                )
            if not isinstance(value, str) or len(value) > 256:
                raise ArmError(
                    400,
                    "InvalidTag",
                    f"The tag value of '{key}' must be a string of at most 256 characters.",
                )
        return dict(tags)


def _invalid_reference(ref: str, scale_set_id: str) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {ref} referenced by resource {scale_set_id} was not found. Please make sure "
        "that the referenced resource exists, and that both resources are in the same region.",
    )
