"""The docs site builds with warnings as errors, and its operations reference is complete.

The reference is generated at build time by ``scripts/gen_reference.py`` (an MkDocs hook), so
these tests check that every installed operation appears with its input fields, and that the nav
follows the provider pages present (absent or extra ones never break ``--strict``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from cloudops.registry import CloudOps

ROOT = Path(__file__).parent.parent
HOOK = ROOT / "scripts" / "gen_reference.py"


@cache
def gen_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return done


def nav_links(html: str) -> set[str]:
    return set(re.findall(r'<a href="([^"]*)" class="md-nav__link', html))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    build(ROOT / "mkdocs.yml", site)
    return site


def test_every_page_is_built(site: Path) -> None:
    for page in [*(ROOT / "docs").glob("*.md"), *(ROOT / "docs").glob("providers/*.md")]:
        rel = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / "index.html" if rel.name == "index" else site / rel / "index.html"
        assert built.is_file(), f"{page} was not built"
    links = nav_links((site / "index.html").read_text())
    for page in (ROOT / "docs").glob("providers/*.md"):
        assert f"providers/{page.stem}/" in links, f"{page} is missing from the nav"


def test_reference_lists_every_installed_operation(site: Path) -> None:
    catalogue = CloudOps().catalogue
    assert "example.echo" in catalogue.operations
    overview = (site / "reference" / "index.html").read_text()
    for name, entry in catalogue.operations.items():
        assert name in overview, f"{name} is missing from the reference overview"
        page = site / "reference" / gen_reference()._slug(entry.plugin) / "index.html"
        html = page.read_text()
        assert f'id="{name}"' in html, f"{name} has no section in {page}"
        section = html.split(f'id="{name}"', 1)[1]
        for field in entry.cls.input_model.model_json_schema().get("properties", {}):
            assert f"<code>{field}</code>" in section, f"{name}: input field {field} not shown"
        for field in entry.cls.output_model.model_json_schema().get("properties", {}):
            assert f"<code>{field}</code>" in section, f"{name}: output field {field} not shown"


def test_reference_shows_example_echo_in_full(site: Path) -> None:
    html = (site / "reference" / "example" / "index.html").read_text()
    section = html.split('id="example.echo"', 1)[1]
    for field in ("message", "repeat", "wait_seconds", "text", "worker"):
        assert f"<code>{field}</code>" in section
    assert "Echo a message back through an activity" in section
    assert "cloudops-example" in section  # the distribution that provides it
    assert "text to echo back" in section  # field descriptions
    assert "1 ≤ value ≤ 10" in section  # and constraints
    assert "additionalProperties" in section  # the JSON schema itself
    overview = (site / "reference" / "index.html").read_text()
    assert 'id="operationrequest"' in overview and 'id="workflowresult"' in overview
    assert "INVALID_INPUT" in overview


def test_typescript_example_is_included_verbatim(site: Path) -> None:
    html = (site / "embedding" / "index.html").read_text()
    assert "loadClientConnectConfig" in html  # from examples/typescript/src/run.ts
    assert "RUNNER_WORKFLOW" in html  # from examples/typescript/src/cloudops.ts


def test_build_survives_absent_and_unlisted_provider_pages(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("providers"))
    (docs / "providers").mkdir()
    (docs / "providers" / "oci.md").write_text("# Oracle Cloud\n\nNot listed in mkdocs.yml.\n")
    for linked in ("scripts", "examples"):  # hooks and snippets resolve beside the config
        (tmp_path / linked).symlink_to(ROOT / linked)
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\n")

    build(config, tmp_path / "site")
    links = nav_links((tmp_path / "site" / "index.html").read_text())
    assert "providers/oci/" in links
    assert not {link for link in links if link.startswith("providers/aws")}

    shutil.rmtree(docs / "providers")
    build(config, tmp_path / "site2")
    links = nav_links((tmp_path / "site2" / "index.html").read_text())
    assert not {link for link in links if link.startswith("providers/")}


def test_fit_nav(tmp_path: Path) -> None:
    gen = gen_reference()
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "aws.md").write_text("# AWS\n")
    (tmp_path / "providers" / "zcloud.md").write_text("# Z Cloud\n")
    nav = [
        {"Home": "index.md"},
        {"Providers": [{"AWS": "providers/aws.md"}, {"GCP": "providers/gcp.md"}]},
        {"Operations reference": "reference/index.md"},
    ]
    generated = {"reference/index.md": "# Ops\n", "reference/aws.md": "# aws\n"}
    assert gen.fit_nav(nav, tmp_path, generated) == [
        {"Home": "index.md"},
        {"Providers": [{"AWS": "providers/aws.md"}, {"Z Cloud": "providers/zcloud.md"}]},
        {"Operations reference": [{"Overview": "reference/index.md"}, {"aws": "reference/aws.md"}]},
    ]
    shutil.rmtree(tmp_path / "providers")
    assert [next(iter(entry)) for entry in gen.fit_nav(nav, tmp_path, generated)] == [
        "Home",
        "Operations reference",
    ]


def test_reference_renders_any_plugin() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import fake_plugin

    pages = gen_reference().pages(CloudOps([fake_plugin], load_entrypoints=False))
    assert set(pages) == {"reference/index.md", "reference/fake_plugin.md"}
    text = pages["reference/fake_plugin.md"]
    for name in CloudOps([fake_plugin], load_entrypoints=False).catalogue.operations:
        assert f"## {name} {{ #{name} }}" in text
