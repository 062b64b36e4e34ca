"""Every create may run twice (a retry, a lost answer, a crash): it still makes one resource."""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import book_for

import cloudops
from cloudops.accounts import using_accounts
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops.servergroups.models import Capacity
from cloudops_aws.activities import (
    create_auto_scaling_group,
    create_launch_template,
    delete_auto_scaling_group,
    delete_launch_template,
)
from cloudops_aws.models import (
    AutoScalingGroupSpec,
    DeleteGroupInput,
    DeleteLaunchTemplateInput,
    LaunchTemplateSpec,
)
from cloudops_testing.faults import (
    FaultRules,
    ProxyRequest,
    ProxyResponse,
    aws_query_error,
    aws_reject_duplicate_asg,
)
from cloudops_testing.fixtures_aws import MotoNetwork, count_tagged

HERE = {"account": "moto", "region": "us-east-1"}


def specs(app: str, request_id: str, network: MotoNetwork) -> tuple[LaunchTemplateSpec, Any]:
    name = f"{app}-v000"
    tags = {TAG_REQUEST_ID: request_id}
    template = LaunchTemplateSpec(
        **HERE,
        name=name,
        request_id=request_id,
        image=network.image_id,
        instance_type="t3.micro",
        tags=tags,
    )

    def group(template_id: str) -> AutoScalingGroupSpec:
        return AutoScalingGroupSpec(
            **HERE,
            name=name,
            request_id=request_id,
            launch_template_id=template_id,
            launch_template_version="1",
            capacity=Capacity(min=0, max=2, desired=2),
            zones=["us-east-1a"],
            tags=tags,
        )

    return template, group


async def test_create_activities_twice_make_one_resource(
    aws_fault_proxy: Any, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    proxy = aws_fault_proxy(FaultRules())  # no faults; AlreadyExists for a duplicate group
    request = f"{app}-twice"
    template_spec, group_spec = specs(app, request, moto_network)
    with using_accounts(book_for(proxy.url)):
        first = await create_launch_template(template_spec)
        second = await create_launch_template(template_spec)
        assert first.created and not second.created
        assert first.id == second.id
        group_first = await create_auto_scaling_group(group_spec(first.id))
        group_second = await create_auto_scaling_group(group_spec(first.id))
        assert group_first.created and not group_second.created

        # Another request may not take them over...
        with pytest.raises(cloudops.BusinessError) as conflict:
            await create_launch_template(template_spec.model_copy(update={"request_id": "other"}))
        assert conflict.value.code == "CONFLICT"
        with pytest.raises(cloudops.BusinessError) as conflict:
            await create_auto_scaling_group(
                group_spec(first.id).model_copy(update={"request_id": "other"})
            )
        assert conflict.value.code == "CONFLICT"
        # ...and its rollbacks leave them alone.
        kept = await delete_launch_template(
            DeleteLaunchTemplateInput(**HERE, name=f"{app}-v000", only_if_request_id="other")
        )
        assert not kept.deleted
        kept = await delete_auto_scaling_group(
            DeleteGroupInput(**HERE, name=f"{app}-v000", only_if_request_id="other")
        )
        assert not kept.deleted

    counts = count_tagged(moto_client, TAG_REQUEST_ID, request)
    assert counts.launch_templates == [f"{app}-v000"]
    assert counts.auto_scaling_groups == [f"{app}-v000"]
    assert len(counts.instances) == 2


def stale_reads(name: str) -> Any:
    """A fidelity rule: the first read of ``name`` misses it, as an eventually consistent read
    after a create whose answer was lost would."""
    missed: set[str] = set()

    def rule(request: ProxyRequest) -> ProxyResponse | None:
        action = request.action
        if action not in ("DescribeAutoScalingGroups", "DescribeLaunchTemplates"):
            return None
        if name not in request.form.values() or action in missed:
            return None
        missed.add(action)
        if action == "DescribeLaunchTemplates":
            return aws_query_error(
                400,
                "InvalidLaunchTemplateName.NotFoundException",
                "At least one of the launch templates specified in the request does not exist.",
                ec2=True,
            )
        body = (
            '<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/'
            '2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups/>'
            "</DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>stale</RequestId>"
            "</ResponseMetadata></DescribeAutoScalingGroupsResponse>"
        )
        return ProxyResponse(200, {"Content-Type": "text/xml"}, body.encode())

    return rule


async def test_a_create_whose_answer_was_lost_is_found_by_its_tag(
    aws_fault_proxy: Any, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    request = f"{app}-lost"
    template_spec, group_spec = specs(app, request, moto_network)
    direct = aws_fault_proxy(FaultRules())
    with using_accounts(book_for(direct.url)):
        made = await create_launch_template(template_spec)
        await create_auto_scaling_group(group_spec(made.id))

    # The retry creates again: AWS (or the proxy's fidelity rule for groups) answers
    # AlreadyExists, and the first read after it misses the resource (eventual consistency):
    # that attempt asks to be retried, and the next one finds it and its tag says "ours".
    stale = aws_fault_proxy(
        FaultRules(), fidelity=[stale_reads(f"{app}-v000"), aws_reject_duplicate_asg]
    )
    with using_accounts(book_for(stale.url)):
        again = await create_launch_template(template_spec)
        with pytest.raises(cloudops.RetryableError, match="exists but could not be read yet"):
            await create_auto_scaling_group(group_spec(made.id))
        group_again = await create_auto_scaling_group(group_spec(made.id))
    assert again.id == made.id and not again.created
    assert not group_again.created
    assert stale.counts["fidelity"] == 4  # two stale reads, AlreadyExists to both group creates
    counts = count_tagged(moto_client, TAG_REQUEST_ID, request)
    assert len(counts.launch_templates) == 1
    assert len(counts.auto_scaling_groups) == 1
    assert len(counts.instances) == 2
