"""Clients per account and region, from the worker's account settings (never from inputs)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import book_for

import cloudops
from cloudops.accounts import AccountBook, ConfigError, FileConfig, using_accounts
from cloudops_aws.clients import aws_client
from cloudops_aws.models import AwsAccountSettings


def test_role_is_assumed_and_clients_are_cached(moto_server: Any) -> None:
    role = "arn:aws:iam::123456789012:role/deployer"
    with using_accounts(book_for(moto_server.url, role_arn=role, external_id="shop")):
        sts = aws_client("sts", "moto", "us-east-1")
        identity = sts.get_caller_identity()["Arn"]
        assert identity == "arn:aws:sts::123456789012:assumed-role/deployer/cloudops"
        assert aws_client("sts", "moto", "us-east-1") is sts
        assert aws_client("sts", "moto", "eu-west-1") is not sts


def test_botocore_retries_are_kept_small(moto_server: Any) -> None:
    with using_accounts(book_for(moto_server.url)):
        client = aws_client("autoscaling", "moto", "us-east-1")
    assert client.meta.config.retries["total_max_attempts"] == 2
    assert client.meta.endpoint_url == moto_server.url


def test_account_settings_are_validated() -> None:
    def load(settings: dict[str, Any]) -> AccountBook:
        config = FileConfig.model_validate({"accounts": {"a": {"provider": "aws", **settings}}})
        return AccountBook.from_config(config, {"aws": AwsAccountSettings})

    load({"profile": "prod", "max_attempts": 3})
    for bad in ({"profil": "typo"}, {"role_arn": "not-an-arn"}, {"external_id": "x1"}):
        with pytest.raises(ConfigError):
            load(bad)


def test_an_account_of_another_provider_is_refused(moto_server: Any) -> None:
    book = AccountBook.from_config(
        FileConfig.model_validate({"accounts": {"g": {"provider": "gcp"}}}),
        {"aws": AwsAccountSettings, "gcp": AwsAccountSettings},
    )
    with using_accounts(book), pytest.raises(cloudops.BusinessError) as refused:
        aws_client("ec2", "g", "us-east-1")
    assert refused.value.code == "INVALID_INPUT"
