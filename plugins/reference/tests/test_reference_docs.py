"""docs/plugins.md "Writing a provider" walks through this package: its excerpts are its code.

The section's runnable script is run by the core's tests/test_docs.py, with every doc example.
"""

from __future__ import annotations

import re
from pathlib import Path

import cloudops_reference

ROOT = Path(__file__).parents[3]
DOC = ROOT / "docs" / "plugins.md"
EXCERPT = re.compile(r"```python\n# docs: skip \(from (plugins/reference/\S+)\)\n(.*?)```", re.S)
PACKAGE = Path(cloudops_reference.__file__).parent


def section() -> str:
    return DOC.read_text().split("## Writing a provider", 1)[1].split("\n## ", 1)[0]


def test_every_excerpt_is_the_code_it_quotes() -> None:
    excerpts = EXCERPT.findall(section())
    assert len(excerpts) >= 4
    for path, code in excerpts:
        assert code in (ROOT / path).read_text(), f"docs/plugins.md quotes {path} wrongly"


def test_every_module_is_in_the_table() -> None:
    text = section()
    for module in PACKAGE.glob("*.py"):
        if module.name != "__init__.py":
            assert f"`{module.name}`" in text, f"{module.name} is missing from the section"
