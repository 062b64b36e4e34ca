"""The operations reference, generated from the installed plugins' models.

Two uses, one code path:

* **MkDocs hook** (``hooks:`` in ``mkdocs.yml``): at every ``mkdocs build`` or ``serve`` the pages
  under ``reference/`` are generated in memory from ``cloudops.CloudOps().catalogue`` (every
  installed plugin, filtered by ``CLOUDOPS_LOAD_PLUGINS`` / ``CLOUDOPS_DISABLED_PLUGINS``), so the
  reference never goes stale. The hook also fits the nav to the files present: a listed page under
  ``providers/`` that does not exist is left out, one that exists but is not listed is added, so
  ``mkdocs build --strict`` neither fails nor hides a page while provider docs come and go.
* **Script**: ``uv run python scripts/gen_reference.py OUT_DIR`` writes the same Markdown pages to
  ``OUT_DIR`` (to read or diff them without building the site).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFERENCE_DIR = "reference"
REFERENCE_INDEX = f"{REFERENCE_DIR}/index.md"
REFERENCE_TITLE = "Operations reference"
#: Nav entries under these prefixes are optional: shown only when their file exists.
OPTIONAL_PREFIXES = ("providers/",)
PROVIDERS_SECTION = "Providers"


# ---------------------------------------------------------------------------------------------
# What is installed
# ---------------------------------------------------------------------------------------------


@dataclass
class OperationDoc:
    """One operation as the reference shows it."""

    name: str
    plugin: str
    summary: str
    description: str
    needs_account: bool
    provider: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


@dataclass
class PluginDoc:
    """One plugin: its distribution, providers and operations."""

    name: str
    slug: str
    distribution: str | None = None
    version: str | None = None
    providers: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    operations: list[OperationDoc] = field(default_factory=list)

    @property
    def page(self) -> str:
        return f"{REFERENCE_DIR}/{self.slug}.md"


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "plugin"
    return "plugin-index" if slug == "index" else slug


def collect(cloudops: Any = None) -> list[PluginDoc]:
    """Every plugin that registers an operation or a provider, with its operations, by name."""
    from cloudops.registry import CloudOps

    registry = cloudops if cloudops is not None else CloudOps()
    catalogue = registry.catalogue
    infos = {info.name: info for info in registry.plugins()}
    plugins: dict[str, PluginDoc] = {}

    def plugin(name: str) -> PluginDoc:
        if name not in plugins:
            info = infos.get(name)
            plugins[name] = PluginDoc(
                name=name,
                slug=_slug(name),
                distribution=info.distribution if info else None,
                version=info.version if info else None,
            )
        return plugins[name]

    for name, entry in sorted(catalogue.providers.items()):
        schema = entry.provider.accounts.model_json_schema()
        plugin(entry.plugin).providers.append((name, entry.provider.description, schema))
    for name, op in sorted(catalogue.operations.items()):
        cls = op.cls
        doc = _doc(cls.description or cls.__doc__ or "")
        plugin(op.plugin).operations.append(
            OperationDoc(
                name=name,
                plugin=op.plugin,
                summary=cls.summary(),
                description=doc.partition("\n")[2].strip(),
                needs_account=cls.provider in catalogue.providers,
                provider=cls.provider,
                input_schema=cls.input_model.model_json_schema(),
                output_schema=cls.output_model.model_json_schema(),
            )
        )
    return sorted(plugins.values(), key=lambda p: p.name)


# ---------------------------------------------------------------------------------------------
# JSON schema -> Markdown
# ---------------------------------------------------------------------------------------------


_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def _doc(text: str) -> str:
    """A docstring as Markdown: dedented, Sphinx roles (``:class:`X` ``) as code."""
    return _RST_ROLE.sub(r"`\1`", inspect.cleandoc(text))


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any], anchors: dict[str, str]) -> str:
    """A short human name of a schema's type, linking nested models."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        anchor = anchors.get(name)
        return f"[{name}](#{anchor})" if anchor else name
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s, anchors) for s in schema[key])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type(schema["allOf"][0], anchors)
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        return f"array of {_type(items, anchors)}" if items else "array"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"object of {_type(extra, anchors)}"
        return "object"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind:
        fmt = schema.get("format")
        return f"{kind} ({fmt})" if fmt else str(kind)
    return "any"


def _constraints(schema: dict[str, Any]) -> list[str]:
    """Bounds, lengths and patterns of a schema and of the branches of its anyOf."""
    found: list[str] = []
    for branch in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        low = branch.get("minimum")
        high = branch.get("maximum")
        xlow = branch.get("exclusiveMinimum")
        xhigh = branch.get("exclusiveMaximum")
        if any(v is not None for v in (low, high, xlow, xhigh)):
            left = f"{low} ≤ " if low is not None else (f"{xlow} < " if xlow is not None else "")
            right = (
                f" ≤ {high}" if high is not None else (f" < {xhigh}" if xhigh is not None else "")
            )
            found.append(f"{left}value{right}")
        for lo, hi, what in (
            ("minLength", "maxLength", "length"),
            ("minItems", "maxItems", "items"),
            ("minProperties", "maxProperties", "keys"),
        ):
            if lo in branch or hi in branch:
                if branch.get(lo) is not None and branch.get(hi) is not None:
                    found.append(f"{what} {branch[lo]}..{branch[hi]}")
                elif branch.get(lo) is not None:
                    found.append(f"{what} ≥ {branch[lo]}")
                else:
                    found.append(f"{what} ≤ {branch[hi]}")
        if "pattern" in branch:
            found.append(f"pattern `{branch['pattern']}`")
    return found


def _fields_table(schema: dict[str, Any], anchors: dict[str, str]) -> str:
    properties: dict[str, Any] = schema.get("properties", {})
    if not properties:
        return "No fields.\n" if schema.get("type") == "object" else ""
    required = set(schema.get("required", []))
    rows = ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    ordered = sorted(properties.items(), key=lambda item: item[0] not in required)
    for name, prop in ordered:
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        notes = [prop.get("description", "").strip(), *_constraints(prop)]
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    _cell(_type(prop, anchors)),
                    "yes" if name in required else "no",
                    _cell(default),
                    _cell("; ".join(n for n in notes if n)),
                ]
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def _schema_block(title: str, schema: dict[str, Any]) -> str:
    body = json.dumps(schema, indent=2, sort_keys=False)
    indented = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
    return f'??? abstract "{title}"\n\n    ```json\n{indented}\n    ```\n'


def _model_section(
    heading: str,
    schema: dict[str, Any],
    anchor_prefix: str,
    *,
    level: int = 3,
    note: str = "",
    description: str = "",
) -> str:
    """Fields table of a model, its nested models, and the full JSON schema (collapsed)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    anchors = {name: f"{anchor_prefix}.{name}" for name in defs}
    hashes = "#" * level
    out = [f"{hashes} {heading}\n"]
    description = schema.get("description") or description
    if description:
        out.append(_doc(description) + "\n")
    if note:
        out.append(note + "\n")
    out.append(_fields_table(schema, anchors))
    for name, sub in defs.items():
        out.append(f"{hashes}# {name} {{ #{anchors[name]} }}\n")
        if sub.get("description"):
            out.append(_doc(sub["description"]) + "\n")
        if "enum" in sub:
            out.append("One of " + ", ".join(f"`{json.dumps(v)}`" for v in sub["enum"]) + ".\n")
        else:
            out.append(_fields_table(sub, anchors))
    out.append(_schema_block(f"{heading}: JSON schema", schema))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def _plugin_label(plugin: PluginDoc) -> str:
    if plugin.distribution:
        return f"`{plugin.name}` ({plugin.distribution} {plugin.version or ''})".replace(" )", ")")
    return f"`{plugin.name}`"


def render_plugin(plugin: PluginDoc) -> str:
    """The reference page of one plugin: its providers' account settings and its operations."""
    out = [f"# {plugin.name}\n"]
    out.append(
        f"Plugin {_plugin_label(plugin)}. Generated from the installed models at build time; "
        "`cloudops operations show NAME` prints the same schemas.\n"
    )
    for name, description, schema in plugin.providers:
        out.append(f"## Provider `{name}` {{ #provider-{_slug(name)} }}\n")
        if description:
            out.append(description.rstrip(".") + ".\n")
        out.append(
            f'Accounts with `provider = "{name}"` in `cloudops.toml` take the common keys '
            "(`regions`, `endpoint`) and these; the worker refuses to start on an unknown key "
            "or a bad value.\n"
        )
        out.append(_model_section("Account settings", schema, f"provider-{name}", level=3))
    for op in plugin.operations:
        out.append(f"## {op.name} {{ #{op.name} }}\n")
        out.append(f"{op.summary}\n" if op.summary else "")
        if op.description:
            out.append(op.description + "\n")
        account = (
            f"yes: an account of provider `{op.provider}`, and a region it allows"
            if op.needs_account
            else "no"
        )
        out.append(
            "| plugin | needs an account |\n|---|---|\n"
            f"| {_cell(_plugin_label(plugin))} | {account} |\n"
        )
        out.append(
            _model_section(
                "Input",
                op.input_schema,
                f"{op.name}.input",
                note="Unknown fields are refused with `INVALID_INPUT`."
                if op.input_schema.get("additionalProperties") is False
                else "",
            )
        )
        out.append(_model_section("Output", op.output_schema, f"{op.name}.output"))
    return "\n".join(out)


def render_index(plugins: Iterable[PluginDoc]) -> str:
    """The overview: every operation, then the request and result every operation shares."""
    from cloudops.errors import ErrorCode
    from cloudops.models import OperationRequest, WorkflowResult

    plugins = list(plugins)
    out = [f"# {REFERENCE_TITLE}\n"]
    out.append(
        "Every operation installed where these docs were built, generated from the plugins' "
        "pydantic models (so it cannot go stale). Clients start the workflow "
        "`UntypedCloudOperationRunner` with an [OperationRequest](#operationrequest) naming the "
        "operation and get a [WorkflowResult](#workflowresult) back. On a worker, "
        "`cloudops operations` lists what *it* has installed.\n"
    )
    rows = ["| operation | summary | plugin | needs an account |", "|---|---|---|---|"]
    for plugin in plugins:
        for op in plugin.operations:
            rows.append(
                f"| [`{op.name}`]({plugin.slug}.md#{op.name}) | {_cell(op.summary)} "
                f"| [{plugin.name}]({plugin.slug}.md) | {'yes' if op.needs_account else 'no'} |"
            )
    out.append("\n".join(rows) + "\n" if len(rows) > 2 else "No operation is installed.\n")
    out.append(
        _model_section(
            "OperationRequest",
            OperationRequest.model_json_schema(),
            "request",
            level=2,
            note="Unknown fields are refused with `INVALID_INPUT`.",
        )
    )
    out.append(
        _model_section(
            "WorkflowResult",
            WorkflowResult[Any].model_json_schema(),
            "result",
            level=2,
            description=WorkflowResult.__doc__ or "",
        )
    )
    out.append("## Error codes\n")
    out.append(
        "`error.code` is one of these, or a plugin's own upper-case code:\n\n"
        + ", ".join(f"`{code.value}`" for code in ErrorCode)
        + ".\n"
    )
    return "\n".join(out)


def pages(cloudops: Any = None) -> dict[str, str]:
    """Every generated page: path under the docs directory -> Markdown."""
    plugins = [p for p in collect(cloudops) if p.operations or p.providers]
    result = {REFERENCE_INDEX: render_index(plugins)}
    for plugin in plugins:
        result[plugin.page] = render_plugin(plugin)
    return result


# ---------------------------------------------------------------------------------------------
# Nav
# ---------------------------------------------------------------------------------------------


def _title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").title()


def _entry_path(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        value = next(iter(entry.values()))
        return value if isinstance(value, str) else None
    return None


def fit_nav(nav: list[Any], docs_dir: Path, generated: dict[str, str]) -> list[Any]:
    """The nav with optional pages that are missing left out, unlisted ones added.

    * An entry under ``providers/`` whose file is absent is dropped; every other
      ``providers/*.md`` joins the "Providers" section (titled by its first heading); an empty
      section is dropped.
    * The entry pointing at ``reference/index.md`` becomes a section with one page per plugin.
    """
    listed: set[str] = set()

    def walk(entries: list[Any]) -> list[Any]:
        kept: list[Any] = []
        for entry in entries:
            path = _entry_path(entry)
            if path is not None:
                if path.startswith(OPTIONAL_PREFIXES) and not (docs_dir / path).is_file():
                    continue
                listed.add(path)
                if path == REFERENCE_INDEX:
                    title = next(iter(entry)) if isinstance(entry, dict) else REFERENCE_TITLE
                    section: list[Any] = [{"Overview": REFERENCE_INDEX}]
                    section += [
                        {_title_of_generated(text, page): page}
                        for page, text in generated.items()
                        if page != REFERENCE_INDEX
                    ]
                    kept.append({title: section})
                    continue
                kept.append(entry)
            elif isinstance(entry, dict) and len(entry) == 1:
                title, children = next(iter(entry.items()))
                children = walk(children if isinstance(children, list) else [children])
                if title == PROVIDERS_SECTION:
                    children += _unlisted_providers(docs_dir, listed)
                if children:
                    kept.append({title: children})
            else:
                kept.append(entry)
        return kept

    return walk(nav)


def _title_of_generated(text: str, page: str) -> str:
    first = text.splitlines()[0] if text else ""
    return first[2:].strip() if first.startswith("# ") else Path(page).stem


def _unlisted_providers(docs_dir: Path, listed: set[str]) -> list[Any]:
    found = []
    for path in sorted((docs_dir / "providers").glob("*.md")):
        rel = path.relative_to(docs_dir).as_posix()
        if rel not in listed:
            listed.add(rel)
            found.append({_title_of(path): rel})
    return found


# ---------------------------------------------------------------------------------------------
# MkDocs hook events
# ---------------------------------------------------------------------------------------------

_generated: dict[str, str] = {}


def on_config(config: Any) -> Any:
    """Generate the reference pages and fit the nav to the files present."""
    _generated.clear()
    _generated.update(pages())
    if config.nav:
        config.nav = fit_nav(config.nav, Path(config.docs_dir), _generated)
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site (replacing any file of the same path)."""
    from mkdocs.structure.files import File

    for path, text in _generated.items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files


def main(argv: list[str]) -> int:
    """Write the generated pages under the directory given (default: ./reference-out)."""
    out = Path(argv[0]) if argv else Path("reference-out")
    for path, text in pages().items():
        target = out / Path(path).relative_to(REFERENCE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
