"""Local clouds for demos, ``cloudops dev`` and chaos runs: emulators behind fault proxies.

Why outside pytest: ``cloudops demo`` and the chaos harness need the same emulators the tests
use, started from plain code, with the faults turned on. Which clouds exist is not known here:
each provider registers a :class:`cloudops.localcloud.LocalCloud` profile whose ``start()``
calls :func:`behind_proxy`; :func:`start_local_clouds` starts the registered ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cloudops.localcloud import LocalClouds, local_clouds
from cloudops.registry import CloudOps
from cloudops_testing.faults import FaultProxy, FaultRules

__all__ = ["behind_proxy", "local_clouds_of", "toml_accounts", "write_config"]


def toml_accounts(config: dict[str, Any]) -> str:
    """A ``{"accounts": {name: {key: value}}}`` dict as ``cloudops.toml`` text.

    Top-level strings (``authorization``) come first.
    """
    lines = [
        f"{key} = {json.dumps(value)}" for key, value in config.items() if isinstance(value, str)
    ]
    for name, table in config.get("accounts", {}).items():
        lines.append(f"[accounts.{json.dumps(name)}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    """A TOML value: JSON's form, except that tables (``budget``) are inline tables."""
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    return json.dumps(value)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write a ``{"accounts": {name: {key: value}}}`` dict as a ``cloudops.toml`` file."""
    path.write_text(toml_accounts(config))
    return path


def behind_proxy(
    emulator: Any,
    faults: FaultRules | None,
    flavor: str,
    fidelity: Iterable[Callable[..., Any]] = (),
) -> FaultProxy:
    """Start ``emulator`` and a fault proxy in front of it answering in ``flavor``."""
    emulator.start()
    rules = replace(faults or FaultRules(), flavor=flavor)
    proxy = FaultProxy(emulator.url, rules, fidelity=list(fidelity))
    try:
        proxy.start()
    except BaseException:
        emulator.stop()
        raise
    return proxy


def local_clouds_of(
    clouds: Sequence[str] | None = None,
    faults: FaultRules | None = None,
    cloudops: CloudOps | None = None,
) -> LocalClouds:
    """The registered local clouds named in ``clouds`` (all by default), not started.

    Raises ``ValueError`` naming the clouds that have no profile here.
    """
    profiles = local_clouds(cloudops or CloudOps())
    wanted = list(profiles) if clouds is None else list(clouds)
    unknown = [name for name in wanted if name not in profiles]
    if unknown:
        raise ValueError(
            f"no local cloud {', '.join(unknown)}; registered: {', '.join(profiles) or 'none'}"
        )
    return LocalClouds([profiles[name] for name in wanted], faults)
