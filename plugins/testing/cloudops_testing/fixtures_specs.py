"""Every test that uses the GCP or Azure emulator fails if an exchange broke the published spec.

Why autouse: the check is only worth something if no test can forget it. The emulators record
each request and answer that does not fit the vendored spec excerpts
(:mod:`cloudops_testing.specs`); this fixture fails the test in whose time they were recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

__all__ = ["emulator_spec_conformance"]


@pytest.fixture(autouse=True)
def emulator_spec_conformance(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the emulators it used saw a request or gave an answer off the spec."""
    used = [n for n in ("gcp_emulator", "azure_emulator") if n in request.fixturenames]
    emulators = [request.getfixturevalue(n) for n in used]
    seen = [len(e.state.spec_violations) for e in emulators]
    yield
    broken = [v for e, n in zip(emulators, seen, strict=True) for v in e.state.spec_violations[n:]]
    if broken:
        shown = "\n  ".join(broken[:20])
        pytest.fail(f"{len(broken)} exchange(s) with the emulators broke the API spec:\n  {shown}")
