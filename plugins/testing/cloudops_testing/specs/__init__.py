"""Check requests and answers of the GCP and Azure emulators against the published API specs.

Why: the emulators and the providers were written together, so a misreading of the real API can
sit on both sides while every test passes. Each emulator hands every exchange (the request a
client sent, the answer it gave) to :func:`check_gcp` / :func:`check_azure`, which compare both
with vendored excerpts of the specifications and record what does not fit: unknown fields,
wrong JSON types, missing required fields, values outside an enum (``currentAction``,
``instanceStatus``, ``upgradePolicy.mode``, ``provisioningState``...). The fixtures fail a test
whose exchanges broke the spec (``spec_violations`` on each emulator).

The excerpts (``compute-v1-excerpt.json``, ``azure-compute-excerpt.json``) keep only the schemas
cloudops exchanges, as names, types, enums and required fields; their ``source`` and
``revision`` say where they come from, and ``scripts/vendor_specs.py`` makes them again.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["check", "check_azure", "check_gcp", "schemas"]

_HERE = Path(__file__).resolve().parent

#: ARM's resource provider contract: provisioningState is one of these (the Compute swagger
#: types it as a plain string); the async operation resource's status likewise
#: (github.com/cloud-and-ai-microsoft/resource-provider-contract, "Asynchronous operations").
_PROVISIONING = {"enum": ["Creating", "Updating", "Deleting", "Succeeded", "Failed", "Canceled"]}
_AZURE_OVERLAY: dict[str, dict[str, Any]] = {
    "VirtualMachineScaleSetProperties": {"provisioningState": {"type": _PROVISIONING}},
    "VirtualMachineScaleSetVMProperties": {"provisioningState": {"type": _PROVISIONING}},
    "OperationStatus": {
        "name": {"type": "string"},
        "status": {"type": {"enum": ["InProgress", "Succeeded", "Failed", "Canceled"]}},
        "startTime": {"type": "string"},
        "endTime": {"type": "string"},
        "error": {"type": "object"},
    },
}


@functools.cache
def schemas(cloud: str) -> dict[str, dict[str, Any]]:
    """The vendored schemas of ``gcp`` or ``azure`` (Azure's in one shape with GCP's)."""
    name = "compute-v1-excerpt.json" if cloud == "gcp" else "azure-compute-excerpt.json"
    loaded = json.loads((_HERE / name).read_text())["schemas"]
    if cloud == "gcp":
        return {
            n: {
                p: {"type": t, "requiredFor": props.get("_requiredFor", {}).get(p, [])}
                for p, t in props.items()
                if p != "_requiredFor"
            }
            for n, props in loaded.items()
        }
    for schema, props in _AZURE_OVERLAY.items():
        loaded[schema] = {**loaded.get(schema, {}), **props}
    return dict(loaded)


def check(
    cloud: str, schema: str, value: Any, where: str = "", *, answer: bool, method: str = ""
) -> list[str]:
    """What in ``value`` does not fit ``schema``: one message per problem.

    ``method`` (a discovery method id such as ``compute.instanceTemplates.insert``) adds the
    fields that method requires.
    """
    props = schemas(cloud)[schema]
    problems = _fields(cloud, props, value, where, answer=answer, owner=f" of {schema}", m=method)
    if isinstance(value, dict):
        for key, spec in props.items():
            needed = spec.get("required") or method in spec.get("requiredFor", ())
            if needed and key not in value and not (answer and spec.get("readonly")):
                problems.append(f"{where}.{key}: required field of {schema} missing")
    return problems


def _check_type(
    cloud: str, kind: Any, value: Any, where: str, *, answer: bool, m: str = ""
) -> list[str]:
    if isinstance(kind, dict):
        if "$ref" in kind:
            return check(cloud, kind["$ref"], value, where, answer=answer, method=m)
        if "array" in kind:
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {type(value).__name__}"]
            return [
                p
                for i, v in enumerate(value)
                for p in _check_type(cloud, kind["array"], v, f"{where}[{i}]", answer=answer, m=m)
            ]
        if "map" in kind:
            if not isinstance(value, dict):
                return [f"{where}: expected a map, got {type(value).__name__}"]
            return [
                p
                for k, v in value.items()
                for p in _check_type(cloud, kind["map"], v, f"{where}.{k}", answer=answer)
            ]
        if "object" in kind:  # Azure's nested "properties" of a flattened definition
            return _fields(cloud, kind["object"], value, where, answer=answer, m=m)
        if value not in kind["enum"]:
            return [f"{where}: {value!r} is not one of {kind['enum']}"]
        return []
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "any": True,
        # A 64-bit integer travels as a decimal string; requests may also send a number.
        "int64": (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None)
        or (not answer and isinstance(value, int) and not isinstance(value, bool)),
    }.get(str(kind), True)
    return [] if ok else [f"{where}: {value!r} is not of type {kind}"]


def _fields(
    cloud: str,
    props: dict[str, Any],
    value: Any,
    where: str,
    *,
    answer: bool,
    owner: str = "",
    m: str = "",
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {type(value).__name__}"]
    problems = []
    for key, item in value.items():
        spec = props.get(key)
        if spec is None:
            problems.append(f"{where}.{key}: unknown field{owner}")
        else:
            problems += _check_type(cloud, spec["type"], item, f"{where}.{key}", answer=answer, m=m)
    return problems


# --------------------------------------------------------------------------------------------
# Which schema each exchange uses
# --------------------------------------------------------------------------------------------

_G = r"^/compute/v1/projects/[^/]+"
_S = _G + r"/(zones|regions)/[^/]+"
_IGM = _S + r"/instanceGroupManagers/[^/]+"
#: (method, path pattern, request schema, answer schema); ``Region``: the regional variant's.
_GCP_ROUTES: tuple[tuple[str, str, str | None, str], ...] = (
    ("POST", _G + r"/(global|regions/[^/]+)/instanceTemplates", "InstanceTemplate", "Operation"),
    ("GET", _G + r"/(global|regions/[^/]+)/instanceTemplates", None, "InstanceTemplateList"),
    ("GET", _G + r"/(global|regions/[^/]+)/instanceTemplates/[^/]+", None, "InstanceTemplate"),
    ("DELETE", _G + r"/(global|regions/[^/]+)/instanceTemplates/[^/]+", None, "Operation"),
    ("GET", _G + r"/aggregated/instanceGroupManagers", None, "InstanceGroupManagerAggregatedList"),
    ("POST", _S + r"/instanceGroupManagers", "InstanceGroupManager", "Operation"),
    ("GET", _S + r"/instanceGroupManagers", None, "{Region}InstanceGroupManagerList"),
    ("GET", _IGM, None, "InstanceGroupManager"),
    ("PATCH", _IGM, "InstanceGroupManager", "Operation"),
    ("DELETE", _IGM, None, "Operation"),
    ("POST", _IGM + r"/resize", None, "Operation"),
    (
        "POST",
        _IGM + r"/setTargetPools",
        "{Region}InstanceGroupManagersSetTargetPoolsRequest",
        "Operation",
    ),
    (
        "POST",
        _IGM + r"/deleteInstances",
        "{Region}InstanceGroupManagersDeleteInstancesRequest",
        "Operation",
    ),
    (
        "POST",
        _IGM + r"/abandonInstances",
        "{Region}InstanceGroupManagersAbandonInstancesRequest",
        "Operation",
    ),
    ("POST", _IGM + r"/recreateInstances", "{Recreate}", "Operation"),
    ("POST", _IGM + r"/setInstanceTemplate", "{SetTemplate}", "Operation"),
    (
        "POST",
        _IGM + r"/listManagedInstances",
        None,
        "InstanceGroupManagersListManagedInstancesResponse",
    ),
    ("GET", _IGM + r"/listErrors", None, "InstanceGroupManagersListErrorsResponse"),
    ("GET", _S + r"/instanceGroups/[^/]+", None, "InstanceGroup"),
    (
        "POST",
        _S + r"/instanceGroups/[^/]+/setNamedPorts",
        "{Region}InstanceGroupsSetNamedPortsRequest",
        "Operation",
    ),
    ("POST", _S + r"/autoscalers", "Autoscaler", "Operation"),
    ("GET", _S + r"/autoscalers", None, "{Region}AutoscalerList"),
    ("GET", _S + r"/autoscalers/[^/]+", None, "Autoscaler"),
    ("PATCH", _S + r"/autoscalers", "Autoscaler", "Operation"),
    ("PUT", _S + r"/autoscalers", "Autoscaler", "Operation"),
    ("DELETE", _S + r"/autoscalers/[^/]+", None, "Operation"),
    ("POST", _G + r"/global/backendServices", "BackendService", "Operation"),
    ("GET", _G + r"/global/backendServices", None, "BackendServiceList"),
    ("GET", _G + r"/global/backendServices/[^/]+", None, "BackendService"),
    ("PATCH", _G + r"/global/backendServices/[^/]+", "BackendService", "Operation"),
    ("PUT", _G + r"/global/backendServices/[^/]+", "BackendService", "Operation"),
    (
        "POST",
        _G + r"/global/backendServices/[^/]+/getHealth",
        "ResourceGroupReference",
        "BackendServiceGroupHealth",
    ),
    ("POST", _S + r"/targetPools", "TargetPool", "Operation"),
    ("GET", _S + r"/targetPools/[^/]+", None, "TargetPool"),
    ("POST", _S + r"/targetPools/[^/]+/getHealth", "InstanceReference", "TargetPoolInstanceHealth"),
    ("GET", _S + r"/instances/[^/]+", None, "Instance"),
    ("POST", _S + r"/instances/[^/]+/reset", None, "Operation"),
    ("GET", _G + r"/((zones|regions)/[^/]+|global)/operations/[^/]+", None, "Operation"),
    ("POST", _G + r"/((zones|regions)/[^/]+|global)/operations/[^/]+/wait", None, "Operation"),
    ("GET", _G + r"/((zones|regions)/[^/]+|global)/operations", None, "OperationList"),
)


def _named(name: str, path: str) -> str:
    regional = "/regions/" in path and "/instanceTemplates" not in path
    if name == "{Recreate}":
        return (
            "RegionInstanceGroupManagersRecreateRequest"
            if regional
            else "InstanceGroupManagersRecreateInstancesRequest"
        )
    if name == "{SetTemplate}":
        return (
            "RegionInstanceGroupManagersSetTemplateRequest"
            if regional
            else "InstanceGroupManagersSetInstanceTemplateRequest"
        )
    return name.replace("{Region}", "Region" if regional else "")


def _insert_method(method: str, path: str) -> str:
    """The discovery method id of an insert (``compute.regionAutoscalers.insert``), or ""."""
    collection = path.rsplit("/", 1)[-1]
    if method != "POST" or collection not in (
        "instanceTemplates",
        "instanceGroupManagers",
        "autoscalers",
    ):
        return ""
    if "/regions/" in path:
        collection = "region" + collection[0].upper() + collection[1:]
    return f"compute.{collection}.insert"


def check_gcp(method: str, path: str, request: Any, status: int, answer: Any) -> list[str]:
    """Problems of one exchange with the compute v1 discovery document's schemas."""
    for verb, pattern, asked, answered in _GCP_ROUTES:
        if verb == method and re.fullmatch(pattern, path):
            problems = []
            if asked is not None and request:
                insert = _insert_method(method, path)
                schema = _named(asked, path)
                problems += check("gcp", schema, request, "request", answer=False, method=insert)
            if status < 300:
                problems += check("gcp", _named(answered, path), answer, "answer", answer=True)
            return [f"{method} {path}: {p}" for p in problems]
    return []


_VMSS = (
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute"
    r"/virtualmachinescalesets"
)
_AZURE_ROUTES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("PUT", _VMSS + r"/[^/]+", "VirtualMachineScaleSet", "VirtualMachineScaleSet"),
    ("PATCH", _VMSS + r"/[^/]+", "VirtualMachineScaleSetUpdate", "VirtualMachineScaleSet"),
    ("GET", _VMSS + r"/[^/]+", None, "VirtualMachineScaleSet"),
    ("GET", _VMSS, None, "[VirtualMachineScaleSet]"),
    (
        "POST",
        _VMSS + r"/[^/]+/(delete|manualupgrade)",
        "VirtualMachineScaleSetVMInstanceRequiredIDs",
        None,
    ),
    ("POST", _VMSS + r"/[^/]+/restart", "VirtualMachineScaleSetVMInstanceIDs", None),
    ("GET", _VMSS + r"/[^/]+/virtualmachines", None, "[VirtualMachineScaleSetVM]"),
    ("GET", _VMSS + r"/[^/]+/virtualmachines/[^/]+", None, "VirtualMachineScaleSetVM"),
    (
        "GET",
        r"^/subscriptions/[^/]+/providers/microsoft\.compute/locations/[^/]+/operations/[^/]+",
        None,
        "OperationStatus",
    ),
)


def check_azure(method: str, path: str, request: Any, status: int, answer: Any) -> list[str]:
    """Problems of one exchange with Microsoft.Compute's scale set definitions."""
    lowered = path.lower()
    for verb, pattern, asked, answered in _AZURE_ROUTES:
        if verb == method and re.fullmatch(pattern, lowered):
            problems = []
            if asked is not None and request:
                problems += check("azure", asked, request, "request", answer=False)
            if answered is not None and status < 300 and answer is not None:
                if answered.startswith("["):
                    extra = sorted(set(answer) - {"value", "nextLink"})
                    problems += [f"answer.{k}: unknown field of a list" for k in extra]
                    problems += [
                        p
                        for i, item in enumerate(answer.get("value") or [])
                        for p in check(
                            "azure", answered[1:-1], item, f"answer.value[{i}]", answer=True
                        )
                    ]
                else:
                    problems += check("azure", answered, answer, "answer", answer=True)
            return [f"{method} {path}: {p}" for p in problems]
    return []
