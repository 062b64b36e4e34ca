"""A user's mistakes on the installed `cloudops` script: a usage message or one line, exit 2.

These run the console script itself (so `cloudops.cli:main` is what handles the error, as for a
user), never a test runner calling the typer app. No Temporal server is needed: each mistake is
caught before connecting (TEMPORAL_ADDRESS points at a closed port to make sure).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_helpers import cloudops
from cloudops.server import free_port

NO_SERVER = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "CLOUDOPS_LOAD_PLUGINS": "example,testing"}
KEY = "11" * 32  # a valid CLOUDOPS_PAYLOAD_KEY (64 hex digits)


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["bogus"], "cloudops", "No such command 'bogus'."),
        (["run"], "cloudops run", "Missing argument 'operation'."),
        (["operations", "-o", "json"], "cloudops operations", "No such option: -o"),
        (["status", "x", "--jsno"], "cloudops status", "No such option: --jsno"),
        (["list", "--limit", "many"], "cloudops list", "Invalid value for '--limit'"),
        (["demo", "--fault-rate", "2"], "cloudops demo", "Invalid value for '--fault-rate'"),
        (["worker", "--metrics-port", "x"], "cloudops worker", "Invalid value for"),
    ],
    ids=["unknown-command", "missing-argument", "unknown-option", "misspelt-option",
         "bad-value", "out-of-range", "bad-port"],
)  # fmt: skip
def test_usage_mistakes_print_usage_and_a_hint_and_exit_2(
    args: list[str], command: str, message: str
) -> None:
    out = cloudops(*args, env=NO_SERVER)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0].startswith(f"Usage: {command} [OPTIONS]"), out.stderr
    assert lines[1] == f"Try '{command} --help' for help.", out.stderr
    assert message in out.stderr


def test_option_without_its_value_says_so_and_exits_2() -> None:
    # click reports this one without the usage lines (its parser has no context at that point)
    out = cloudops("run", "example.echo", "--input", env=NO_SERVER)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout, out.stderr
    assert "Option '--input' requires an argument." in out.stderr


def test_no_arguments_prints_the_help_and_exits_2() -> None:
    out = cloudops(env=NO_SERVER)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "Usage: cloudops [OPTIONS] COMMAND [ARGS]..." in out.stdout + out.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_input_file_that_does_not_exist(tmp_path: Path) -> None:
    out = cloudops("run", "example.echo", "--input", "@missing.json", env=NO_SERVER, cwd=tmp_path)
    _one_line_error(out, "--input @missing.json", "cannot read missing.json")


def test_dev_db_in_a_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    out = cloudops(
        "dev", "--db", "afile/t.sqlite", "--port", str(free_port()), "--ui-port",
        str(free_port()), env=NO_SERVER, cwd=tmp_path,
    )  # fmt: skip
    _one_line_error(out, "afile/t.sqlite", "afile is not a folder", "--db")
    assert (tmp_path / "afile").read_text() == ""


def test_dev_db_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    out = cloudops(
        "dev", "--db", "data", "--port", str(free_port()), "--ui-port", str(free_port()),
        env=NO_SERVER, cwd=tmp_path,
    )  # fmt: skip
    _one_line_error(out, "cannot write data: it is a folder", "--db")


def test_worker_log_level_that_does_not_exist() -> None:
    _one_line_error(cloudops("worker", "--log-level", "LOUD", env=NO_SERVER), "--log-level 'LOUD'")


def test_worker_metrics_port_in_use(busy_port: int) -> None:
    out = cloudops("worker", "--metrics-port", str(busy_port), env=NO_SERVER)
    _one_line_error(out, f"127.0.0.1:{busy_port}", "Address already in use", "--metrics-port")


def test_codec_server_port_in_use(busy_port: int) -> None:
    env = {**NO_SERVER, "CLOUDOPS_PAYLOAD_KEY": KEY}
    out = cloudops("codec-server", "--port", str(busy_port), env=env)
    _one_line_error(out, f"127.0.0.1:{busy_port}", "Address already in use", "--port")


def test_errors_stay_on_one_line_in_a_narrow_terminal() -> None:
    env = {**NO_SERVER, "COLUMNS": "40"}
    out = cloudops("run", "example.echo", "--input", "[1, 2]", env=env)
    _one_line_error(out, "--input must be a JSON object, got list")


def test_a_third_party_plugin_that_fails_to_import(tmp_path: Path) -> None:
    # installed (an entry point in the `cloudops` group) but its cloud SDK is missing
    (tmp_path / "cloudops_mars.py").write_text("import mars_cloud_sdk  # not installed\n")
    dist = tmp_path / "cloudops_mars-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cloudops-mars\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text("[cloudops]\nmars = cloudops_mars\n")
    env = {**NO_SERVER, "PYTHONPATH": str(tmp_path), "CLOUDOPS_LOAD_PLUGINS": "example,mars"}
    expected = (
        "plugin 'mars' (cloudops-mars 1.2) failed to load: ModuleNotFoundError: No module named "
        "'mars_cloud_sdk'. Fix or uninstall it, or skip it with CLOUDOPS_DISABLED_PLUGINS=mars"
    )
    for command in (["worker"], ["operations"], ["dev", "--port", str(free_port())]):
        out = cloudops(*command, env=env, cwd=tmp_path)
        _one_line_error(out)
        assert out.stderr.strip() == f"error: {expected}", command
    assert not (tmp_path / ".cloudops").exists()  # dev stopped before starting anything

    skipped = cloudops("operations", "--json", env={**env, "CLOUDOPS_DISABLED_PLUGINS": "mars"})
    assert skipped.returncode == 0, skipped.stderr
    assert [row["operation"] for row in json.loads(skipped.stdout)] == ["example.echo"]
