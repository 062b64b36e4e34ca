"""Operations: workflow code, deterministic, reaching the outside world only through activities."""

import cloudops
from cloudops_example.models import EchoInput, EchoOutput


class Echo(cloudops.CloudOperation[EchoInput, EchoOutput]):
    """Echo a message back through an activity: the smallest complete operation."""

    provider = "example"
    name = "echo"

    async def run(self, ctx: cloudops.OperationContext, input: EchoInput) -> EchoOutput:
        """Call the ``example.echo`` activity by name and return its output."""
        if input.wait_seconds:
            # A durable timer: the wait survives worker and server restarts.
            with ctx.step(f"wait {input.wait_seconds:g}s"):
                await ctx.sleep(input.wait_seconds)
        with ctx.step("echo"):
            result: EchoOutput = await ctx.execute_activity("example.echo", input)
        return result
