"""Make the small spec excerpts the emulator tests validate against (cloudops_testing/specs/).

Why a script: the published documents are megabytes; the test kit keeps only the schemas the
providers and emulators exchange, reduced to names, types, enums and required fields, with their
source and revision recorded, and this script says exactly how they were cut.

    python scripts/vendor_specs.py gcp path/to/compute.v1.json   # the compute v1 discovery doc
    python scripts/vendor_specs.py azure                         # from azure-mgmt-compute's models

GCP: the discovery document as shipped in google-api-python-client
(``googleapiclient/discovery_cache/documents/compute.v1.json``; the same document the Go and
Python clients are generated from). Azure: azure-rest-api-specs' Microsoft.Compute definitions as
azure-mgmt-compute carries them (``_attribute_map``, ``_validation`` and the enums of the generated
models for its api-version), since the swagger files themselves span several large documents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "plugins/testing/cloudops_testing/specs"
GCP_ROOTS = [
    "InstanceTemplate",
    "InstanceTemplateList",
    "InstanceGroupManager",
    "InstanceGroupManagerAggregatedList",
    "InstanceGroupManagerList",
    "RegionInstanceGroupManagerList",
    "InstanceGroupManagersListManagedInstancesResponse",
    "InstanceGroupManagersListErrorsResponse",
    "InstanceGroup",
    "InstanceGroupsSetNamedPortsRequest",
    "RegionInstanceGroupsSetNamedPortsRequest",
    "InstanceGroupManagersSetTargetPoolsRequest",
    "RegionInstanceGroupManagersSetTargetPoolsRequest",
    "InstanceGroupManagersDeleteInstancesRequest",
    "RegionInstanceGroupManagersDeleteInstancesRequest",
    "InstanceGroupManagersAbandonInstancesRequest",
    "RegionInstanceGroupManagersAbandonInstancesRequest",
    "InstanceGroupManagersRecreateInstancesRequest",
    "RegionInstanceGroupManagersRecreateRequest",
    "InstanceGroupManagersSetInstanceTemplateRequest",
    "RegionInstanceGroupManagersSetTemplateRequest",
    "Operation",
    "OperationList",
    "BackendService",
    "BackendServiceList",
    "BackendServiceGroupHealth",
    "ResourceGroupReference",
    "Autoscaler",
    "AutoscalerList",
    "RegionAutoscalerList",
    "TargetPool",
    "TargetPoolList",
    "TargetPoolInstanceHealth",
    "InstanceReference",
    "Instance",
]
#: How deep nested schemas are kept; deeper ones are only checked to be objects.
DEPTH = 3


def _gcp_type(prop: dict[str, Any], keep: set[str]) -> Any:
    if "$ref" in prop:
        return {"$ref": prop["$ref"]} if prop["$ref"] in keep else "object"
    kind = prop.get("type", "any")
    if kind == "array":
        return {"array": _gcp_type(prop.get("items", {}), keep)}
    if kind == "object" and "additionalProperties" in prop:
        return {"map": _gcp_type(prop["additionalProperties"], keep)}
    if kind == "string" and prop.get("format") in ("int64", "uint64"):
        return "int64"  # a decimal string on the wire
    if "enum" in prop:
        return {"enum": prop["enum"]}
    return kind


def gcp(document: Path) -> dict[str, Any]:
    """The excerpt of the compute v1 discovery document."""
    doc = json.loads(document.read_text())
    schemas = doc["schemas"]
    depth = {name: 0 for name in GCP_ROOTS}
    todo = list(GCP_ROOTS)
    while todo:
        name = todo.pop()
        for ref in _refs(schemas[name]):
            if ref not in depth and depth[name] < DEPTH:
                depth[ref] = depth[name] + 1
                todo.append(ref)
    keep = set(depth)
    out = {}
    for name in sorted(keep):
        props = schemas[name]["properties"]
        out[name] = {p: _gcp_type(v, keep) for p, v in sorted(props.items())}
        required = {p: v["annotations"]["required"] for p, v in props.items() if "annotations" in v}
        if required:  # fields a method needs (e.g. name on insert): annotations.required
            out[name]["_requiredFor"] = required
    return {
        "source": "https://compute.googleapis.com/$discovery/rest?version=v1 (as shipped in "
        "google-api-python-client, googleapiclient/discovery_cache/documents/compute.v1.json)",
        "revision": doc["revision"],
        "schemas": out,
    }


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if "$ref" in value else []
        return found + [r for k, v in value.items() if k != "$ref" for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


AZURE_ROOTS = [
    "VirtualMachineScaleSet",
    "VirtualMachineScaleSetUpdate",
    "VirtualMachineScaleSetVM",
    "VirtualMachineScaleSetVMInstanceIDs",
    "VirtualMachineScaleSetVMInstanceRequiredIDs",
]


def _azure_type(hint: Any, keep: set[str]) -> Any:
    import datetime
    import enum
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums:  # ARM enums are open (x-ms-enum modelAsString): known values only
            return {"enum": [m.value for m in enums[0]], "extensible": True}
        return _azure_type(args[0], keep) if len(args) == 1 else "any"
    if origin is list:
        return {"array": _azure_type(args[0], keep)}
    if origin is dict:
        return {"map": _azure_type(args[1], keep)}
    simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
    if hint in simple:
        return simple[hint]
    if hint in (datetime.datetime, datetime.timedelta, bytes):
        return "string"
    name = getattr(hint, "__name__", "")
    return {"$ref": name} if name in keep else "object"


def azure() -> dict[str, Any]:
    """The excerpt of Microsoft.Compute's scale set definitions (azure-mgmt-compute's models)."""
    import typing
    from importlib.metadata import version

    from azure.mgmt.compute import models

    ns = {**vars(sys.modules[models.VirtualMachineScaleSet.__module__]), "_models": models}

    def fields(cls: type) -> dict[str, tuple[Any, Any]]:
        hints = typing.get_type_hints(cls, globalns=ns)
        found = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if type(value).__name__ == "_RestField":
                    found[attr] = (value, hints.get(attr))
        return found

    def refs(hint: Any) -> list[str]:
        name = getattr(hint, "__name__", "")
        inner = [r for a in typing.get_args(hint) for r in refs(a)]
        return inner + (
            [name] if hasattr(models, name) and "_models" in str(hint.__module__) else []
        )

    keep: set[str] = set()
    todo = list(AZURE_ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        for _, hint in fields(getattr(models, name)).values():
            todo += [r for r in refs(hint) if r not in keep]
    out: dict[str, Any] = {}
    for name in sorted(keep):
        cls = getattr(models, name)
        flat = set(getattr(cls, f"_{name}__flattened_items", []) or [])
        props: dict[str, Any] = {}
        for attr, (field, hint) in fields(cls).items():
            if attr in flat:
                continue  # a client-side flattening of "properties"
            entry: dict[str, Any] = {"type": _azure_type(hint, keep)}
            if type(None) not in typing.get_args(hint):
                entry["required"] = True
            if field._visibility == ["read"]:
                entry["readonly"] = True
            props[field._rest_name_input or attr] = entry
        out[name] = props
    return {
        "source": "https://github.com/Azure/azure-rest-api-specs specification/compute/"
        "resource-manager/Microsoft.Compute (VirtualMachineScaleSet* definitions, as generated "
        f"into azure-mgmt-compute {version('azure-mgmt-compute')})",
        "revision": f"azure-mgmt-compute {version('azure-mgmt-compute')}",
        "schemas": out,
    }


if __name__ == "__main__":
    cloud = sys.argv[1]
    excerpt = gcp(Path(sys.argv[2])) if cloud == "gcp" else azure()
    target = OUT / ("compute-v1-excerpt.json" if cloud == "gcp" else "azure-compute-excerpt.json")
    target.write_text(json.dumps(excerpt, indent=1, sort_keys=True) + "\n")
    print(f"{target}: {target.stat().st_size} bytes, {len(excerpt['schemas'])} schemas")
