"""cloudops.toml: accounts validated against the providers' own settings models."""

from __future__ import annotations

from pathlib import Path

import pytest

import fake_plugin
from cloudops.accounts import ConfigError, load_config
from cloudops.registry import CloudOps
from cloudops.worker import account_book


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cloudops.toml"
    path.write_text(text)
    return path


def test_accounts_are_read_and_provider_settings_validated(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[accounts.lab]\nprovider = "fakecloud"\nregions = ["eu-west-1"]\n'
        'token_file = "/run/secrets/token"\n',
    )
    book = account_book(CloudOps([fake_plugin], load_entrypoints=False), load_config(path))
    lab = book.get("lab")
    assert lab.provider == "fakecloud" and lab.regions == ["eu-west-1"]
    assert lab.settings.token_file == "/run/secrets/token"


def test_unknown_provider_setting_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[accounts.lab]\nprovider = "fakecloud"\ntoken = "s3cr3t"\n')
    with pytest.raises(ConfigError, match="account 'lab': token: Extra inputs"):
        account_book(CloudOps([fake_plugin], load_entrypoints=False), load_config(path))


def test_provider_not_installed_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[accounts.x]\nprovider = "oracle"\n')
    with pytest.raises(ConfigError, match="provider 'oracle' is not installed"):
        account_book(CloudOps([fake_plugin], load_entrypoints=False), load_config(path))


def test_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLOUDOPS_CONFIG", raising=False)
    assert load_config().accounts == {}  # no ./cloudops.toml: no accounts
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    _write(tmp_path, "accounts = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "cloudops.toml")
