"""Plugin discovery and the catalogue: entry points, plugin objects, duplicates, env filters."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from pluggy import PluginValidationError
from temporalio import activity

import cloudops
import fake_plugin
from cloudops.registry import CloudOps, RegistrationError
from cloudops_example.operations import Echo


def test_installed_plugins_are_found_through_entry_points() -> None:
    ops = CloudOps(allow=["example"])
    entry = ops.catalogue.operation("example.echo")
    assert entry is not None and entry.cls is Echo and entry.plugin == "example"
    assert ops.catalogue.activity("example.echo") is not None
    [info] = ops.plugins()
    assert (info.name, info.distribution, info.version) == ("example", "cloudops-example", "0.1.0")
    assert info.hooks == ("register_activities", "register_operations")


def test_plugin_objects_can_be_passed_in_without_entry_points() -> None:
    ops = CloudOps([fake_plugin], load_entrypoints=False)
    assert "fake.chain" in ops.catalogue.operations
    assert "example.echo" not in ops.catalogue.operations
    assert ops.catalogue.providers["fakecloud"].plugin == "fake_plugin"


def _plugin(name: str, *ops: type[Any]) -> types.SimpleNamespace:
    @cloudops.hookimpl
    def register_operations(register: Callable[[type[Any]], None]) -> None:
        for op in ops:
            register(op)

    return types.SimpleNamespace(__name__=name, register_operations=register_operations)


def test_two_plugins_registering_one_name_is_an_error_naming_both() -> None:
    class OtherEcho(cloudops.CloudOperation[Any, Any]):
        provider = "example"
        name = "echo"

    ops = CloudOps([_plugin("copycat", OtherEcho)], allow=["example"])
    with pytest.raises(RegistrationError) as err:
        _ = ops.catalogue
    assert "'example.echo'" in str(err.value)
    assert "'example'" in str(err.value) and "'copycat'" in str(err.value)


def test_a_misspelt_hook_fails_loudly() -> None:
    @cloudops.hookimpl
    def register_operation(register: Callable[..., None]) -> None:  # missing "s"
        pass

    plugin = types.SimpleNamespace(__name__="typo", register_operation=register_operation)
    with pytest.raises(
        PluginValidationError, match=r"^unknown hook 'register_operation' in plugin "
    ):
        CloudOps([plugin], load_entrypoints=False)


def test_registering_something_that_is_not_an_operation_is_an_error() -> None:
    ops = CloudOps([_plugin("wrong", dict)], load_entrypoints=False)
    with pytest.raises(RegistrationError, match="not a CloudOperation"):
        _ = ops.catalogue


def test_activities_must_be_named() -> None:
    @activity.defn
    async def unnamed(x: int) -> int:
        return x

    @cloudops.hookimpl
    def register_activities(register: Callable[[Any], None]) -> None:
        register(unnamed)

    plugin = types.SimpleNamespace(__name__="anon", register_activities=register_activities)
    with pytest.raises(RegistrationError, match=r"provider\.verb"):
        _ = CloudOps([plugin], load_entrypoints=False).catalogue


def test_environment_allow_and_block_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_LOAD_PLUGINS", "")
    assert CloudOps().catalogue.operations == {}
    monkeypatch.setenv("CLOUDOPS_LOAD_PLUGINS", "example")
    assert list(CloudOps().catalogue.operations) == ["example.echo"]
    monkeypatch.delenv("CLOUDOPS_LOAD_PLUGINS")
    everything = {e.plugin for e in CloudOps().catalogue.operations.values()}
    assert everything == {"example", "aws", "gcp", "azure", "deploy", "reference"}
    # A block list skips the plugins it names, and only those.
    monkeypatch.setenv("CLOUDOPS_DISABLED_PLUGINS", "example")
    operations = CloudOps().catalogue.operations
    assert "example.echo" not in operations
    assert {e.plugin for e in operations.values()} == everything - {"example"}
    monkeypatch.setenv("CLOUDOPS_DISABLED_PLUGINS", "example,gcp")
    assert {e.plugin for e in CloudOps().catalogue.operations.values()} == everything - {
        "example",
        "gcp",
    }
    monkeypatch.setenv("CLOUDOPS_DISABLED_PLUGINS", "example,aws,gcp,azure,deploy,reference")
    assert CloudOps().catalogue.operations == {}
    # Both lists: allowed and not blocked.
    monkeypatch.setenv("CLOUDOPS_LOAD_PLUGINS", "example,aws")
    monkeypatch.setenv("CLOUDOPS_DISABLED_PLUGINS", "example")
    assert {e.plugin for e in CloudOps().catalogue.operations.values()} == {"aws"}


def test_models_come_from_the_generic_arguments() -> None:
    assert Echo.input_model.__name__ == "EchoInput"
    assert Echo.output_model.__name__ == "EchoOutput"
    assert Echo.full_name() == "example.echo"
    assert (
        fake_plugin.Chain.summary()
        == "Make resources one after the other, registering an undo for each."
    )


def test_models_come_from_a_plugins_own_generic_base() -> None:
    from typing import Generic, TypeVar

    from cloudops_example.models import EchoInput, EchoOutput

    In = TypeVar("In", bound=cloudops.Input)
    Out = TypeVar("Out", bound=cloudops.Output)

    class MyCloudOperation(cloudops.CloudOperation[In, Out], Generic[In, Out]):
        provider = "mine"

    class Echo2(MyCloudOperation[EchoInput, EchoOutput]):
        name = "echo2"

    assert Echo2.input_model is EchoInput and Echo2.output_model is EchoOutput
    assert Echo2.full_name() == "mine.echo2"
