"""Autoscale settings (``Microsoft.Insights/autoscalesettings``), as ARM serves them.

Follows azure-rest-api-specs ``specification/monitor/resource-manager/Microsoft.Insights/
stable/2022-10-01/autoscale_API.json`` (the api-version azure-mgmt-monitor 7 sends) and the
client's status handling (``AutoscaleSettingsOperations``):

- ``PUT .../autoscalesettings/{name}``: synchronous, 201 when created, 200 when replaced; the
  body's ``location`` and ``properties.profiles`` (1-20, each ``name``, ``capacity`` with
  ``minimum`` <= ``default`` <= ``maximum`` as strings, 0-10 ``rules``) and
  ``properties.targetResourceUri`` are required. Stricter as the service is: the target must
  exist (400 ``TargetResourceNotFound``) and carry one setting only (400
  ``AutoscaleSettingAlreadyExistsForResource`` for a second name on the same target).
- ``GET`` 200 or 404 ``ResourceNotFound``; ``DELETE`` 200, or 204 when it does not exist;
  ``GET .../autoscalesettings`` the resource group's, paged ``{"value", "nextLink"}``.
- Deleting a scale set leaves its setting behind, as Azure does (it stops acting on nothing).
"""

from __future__ import annotations

import copy
from typing import Any

from cloudops_testing.azure_emulator.errors import ArmError, not_found

__all__ = ["ROUTES", "autoscale_settings"]

TYPE = "Microsoft.Insights/autoscaleSettings"
_RG = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
_PATH = _RG + r"/providers/microsoft\.insights/autoscalesettings"


def autoscale_settings(state: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The emulator's settings by (subscription, resource group, name), lower case."""
    found: dict[tuple[str, str, str], dict[str, Any]] = state.autoscale_settings
    return found


def _key(request: Any) -> tuple[str, str, str]:
    groups = request.groups
    return groups["sub"].lower(), groups["rg"].lower(), groups["name"].lower()


def _bad(message: str, code: str = "InvalidRequestContent") -> ArmError:
    return ArmError(400, code, message)


def _check_profiles(profiles: Any) -> None:
    if not isinstance(profiles, list) or not 1 <= len(profiles) <= 20:
        raise _bad("'properties.profiles' must hold 1 to 20 profiles.")
    for profile in profiles:
        capacity = profile.get("capacity") if isinstance(profile, dict) else None
        if not isinstance(capacity, dict) or not profile.get("name"):
            raise _bad("Each profile needs a 'name' and a 'capacity'.")
        try:
            low, high, default = (int(capacity[k]) for k in ("minimum", "maximum", "default"))
        except (KeyError, TypeError, ValueError):
            raise _bad(
                "Profile capacity needs integer 'minimum', 'maximum' and 'default'."
            ) from None
        if not low <= default <= high:
            raise _bad(
                f"The default capacity {default} of profile '{profile['name']}' must be between "
                f"the minimum {low} and the maximum {high}.",
                "InvalidAutoscaleProfileCapacity",
            )
        rules = profile.get("rules", [])
        if not isinstance(rules, list) or len(rules) > 10:
            raise _bad("A profile holds at most 10 rules.")
        for rule in rules:
            if not isinstance(rule, dict) or not {"metricTrigger", "scaleAction"} <= set(rule):
                raise _bad("Each rule needs a 'metricTrigger' and a 'scaleAction'.")


def _render(request: Any, body: dict[str, Any]) -> dict[str, Any]:
    sub, rg, name = (request.groups[k] for k in ("sub", "rg", "name"))
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{TYPE}/{name}",
        "name": name,
        "type": TYPE,
        "location": body["location"],
        "tags": body.get("tags") or {},
        "properties": {**body["properties"], "name": name},
    }


def put_setting(state: Any, request: Any) -> Any:
    """PUT (create or replace) an autoscale setting."""
    from cloudops_testing.azure_emulator.routes import Reply

    state.require_group(request.groups["sub"], request.groups["rg"])
    body = request.json()
    properties = body.get("properties")
    if not body.get("location") or not isinstance(properties, dict):
        raise _bad("'location' and 'properties' are required.")
    _check_profiles(properties.get("profiles"))
    target = str(properties.get("targetResourceUri") or "")
    parts = target.strip("/").split("/")
    if len(parts) != 8 or (parts[0].lower(), parts[6].lower()) != (
        "subscriptions",
        "virtualmachinescalesets",
    ):
        raise _bad(
            f"The target resource id '{target}' is not a scale set.", "TargetResourceNotFound"
        )
    key = (parts[1].lower(), parts[3].lower(), parts[7].lower())
    if key not in state.scale_sets:
        raise _bad(f"The target resource id '{target}' was not found.", "TargetResourceNotFound")
    settings = autoscale_settings(state)
    for other, existing in settings.items():
        same = existing["properties"]["targetResourceUri"].lower() == target.lower()
        if same and other != _key(request):
            raise _bad(
                f"An autoscale setting '{existing['name']}' already exists for target resource "
                f"'{target}'.",
                "AutoscaleSettingAlreadyExistsForResource",
            )
    created = _key(request) not in settings
    settings[_key(request)] = _render(request, copy.deepcopy(body))
    return Reply(201 if created else 200, copy.deepcopy(settings[_key(request)]))


def get_setting(state: Any, request: Any) -> Any:
    """GET an autoscale setting, or 404."""
    from cloudops_testing.azure_emulator.routes import Reply

    state.require_group(request.groups["sub"], request.groups["rg"])
    found = autoscale_settings(state).get(_key(request))
    if found is None:
        raise not_found(TYPE, request.groups["name"], request.groups["rg"])
    return Reply(200, copy.deepcopy(found))


def delete_setting(state: Any, request: Any) -> Any:
    """DELETE an autoscale setting: 200, or 204 when there was none."""
    from cloudops_testing.azure_emulator.routes import Reply

    state.require_group(request.groups["sub"], request.groups["rg"])
    gone = autoscale_settings(state).pop(_key(request), None)
    return Reply(200 if gone is not None else 204)


def list_settings(state: Any, request: Any) -> Any:
    """GET the resource group's autoscale settings, paged."""
    from cloudops_testing.azure_emulator.routes import Reply, _page

    sub, rg = request.groups["sub"].lower(), request.groups["rg"].lower()
    state.require_group(sub, rg)
    items = [
        copy.deepcopy(v)
        for (s, r, _), v in sorted(autoscale_settings(state).items())
        if (s, r) == (sub, rg)
    ]
    return Reply(200, _page(state, request, items))


#: (method, pattern, handler) rows joined to the emulator's routes.
ROUTES = (
    ("GET", _PATH, list_settings),
    ("GET", _PATH + r"/(?P<name>[^/]+)", get_setting),
    ("PUT", _PATH + r"/(?P<name>[^/]+)", put_setting),
    ("DELETE", _PATH + r"/(?P<name>[^/]+)", delete_setting),
)
