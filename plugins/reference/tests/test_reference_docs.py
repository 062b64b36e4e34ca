"""docs/plugins.md "Writing a provider" walks through this package: its excerpts are its code.

The section's runnable script is run by the core's tests/test_docs.py, with every doc example.
"""

from __future__ import annotations

import re
from pathlib import Path

import cloudops_reference
import reference_cloud

ROOT = Path(__file__).parents[3]
DOC = ROOT / "docs" / "plugins.md"
EXCERPT = re.compile(r"```python\n# docs: skip \(from (plugins/reference/\S+)\)\n(.*?)```", re.S)
#: The provider, and the cloud with its SDK (only its __init__.py): each file is in the table.
PACKAGES = [Path(package.__file__).parent for package in (cloudops_reference, reference_cloud)]


def section() -> str:
    return DOC.read_text().split("## Writing a provider", 1)[1].split("\n## ", 1)[0]


def test_every_excerpt_is_the_code_it_quotes() -> None:
    excerpts = EXCERPT.findall(section())
    assert len(excerpts) >= 4
    for path, code in excerpts:
        assert code in (ROOT / path).read_text(), f"docs/plugins.md quotes {path} wrongly"


def test_every_module_is_in_the_table() -> None:
    text = section()
    for package in PACKAGES:
        for module in package.glob("*.py"):
            name = f"{package.name}/{module.name}"
            if name != "cloudops_reference/__init__.py":
                assert f"`{name}`" in text, f"{name} is missing from the section"


def test_the_provider_stays_small() -> None:
    """The section promises the smallest complete provider in under 400 lines (the cloud apart)."""
    lines = sum(len(m.read_text().splitlines()) for m in PACKAGES[0].glob("*.py"))
    assert lines <= 400, f"cloudops_reference has {lines} lines"
