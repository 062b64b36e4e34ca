"""Input and output of ``example.echo``: one pydantic model each."""

from pydantic import Field

import cloudops


class EchoInput(cloudops.Input):
    """What to echo. Unknown fields are rejected (``cloudops.Input`` forbids them)."""

    message: str = Field(min_length=1, max_length=1000, description="text to echo back")
    repeat: int = Field(default=1, ge=1, le=10, description="how many times to repeat it")
    wait_seconds: float = Field(
        default=0, ge=0, le=3600, description="wait this long first, on a durable timer"
    )


class EchoOutput(cloudops.Output):
    """The echoed text and which worker produced it."""

    text: str
    worker: str
