"""The baseline of the end-to-end benchmark: create + destroy a server group with plain boto3.

The same AWS calls cloudops' createServerGroup and destroyServerGroup make, in order, with no
orchestration: pick the next free name, create the launch template and the Auto Scaling group,
poll until the instances are InService, then force-delete the group, poll until it is gone and
delete the template. ``--retries cloudops`` uses the botocore settings cloudops' AWS activities
use (standard mode, 2 tries per call); ``--retries default`` uses boto3's defaults.

Prints one JSON line per run: {"ok": bool, "seconds": float, "error": str | null}.
"""

from __future__ import annotations

import argparse
import json
import time

import boto3
from botocore.config import Config


def create_and_destroy(asg, ec2, app: str, image: str, group: str, poll: float) -> None:
    """One server group's life, straight through the SDK."""
    taken = {
        g["AutoScalingGroupName"] for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    }
    taken |= {t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}
    name = next(
        f"{app}-bench-v{i:03d}" for i in range(1000) if f"{app}-bench-v{i:03d}" not in taken
    )
    ec2.describe_images(ImageIds=[image])
    ec2.describe_security_groups(GroupIds=[group])
    template = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [group],
        },
    )["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
    )
    while True:  # wait for capacity
        found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        healthy = [i for i in found[0]["Instances"] if i["LifecycleState"] == "InService"]
        if len(healthy) >= 2:
            break
        time.sleep(poll)
    asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])  # destroy: describe
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    while asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
        time.sleep(poll)
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


def main() -> None:
    """Run the life cycle ``--repeat`` times, timing each run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--security-group", required=True)
    parser.add_argument("--app", default="direct")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--retries", choices=["cloudops", "default"], default="cloudops")
    args = parser.parse_args()
    config = (
        Config(retries={"total_max_attempts": 2, "mode": "standard"})
        if args.retries == "cloudops"
        else None
    )
    asg = boto3.client("autoscaling", endpoint_url=args.endpoint, config=config)
    ec2 = boto3.client("ec2", endpoint_url=args.endpoint, config=config)
    for i in range(args.repeat):
        started = time.perf_counter()
        try:
            create_and_destroy(
                asg, ec2, f"{args.app}{i}", args.image, args.security_group, args.poll
            )
            error = None
        except Exception as err:
            error = f"{type(err).__name__}: {err}"[:300]
        print(
            json.dumps(
                {"ok": error is None, "seconds": time.perf_counter() - started, "error": error}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
