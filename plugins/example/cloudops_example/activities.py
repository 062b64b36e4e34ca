"""Activities: the only place a plugin does I/O (here: ask the worker who it is)."""

import socket

from temporalio import activity

from cloudops_example.models import EchoInput, EchoOutput


@activity.defn(name="example.echo")
async def echo(request: EchoInput) -> EchoOutput:
    """Repeat the message. Idempotent: running it twice gives the same answer."""
    return EchoOutput(
        text=" ".join([request.message] * request.repeat),
        worker=f"{socket.gethostname()}:{activity.info().task_queue}",
    )
