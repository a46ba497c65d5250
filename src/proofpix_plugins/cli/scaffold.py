"""``plugin init``: a new plugin directory that validates clean and passes its own test.

One template per plugin type, each bound to the hook that type is for, requesting exactly the
permissions its code uses (so ``PPX-PERM-UNUSED`` and ``PPX-HOOK-PERMISSION`` stay quiet):

- analyzer: ``file:uploaded`` with ``files``: reads the photo, reports its size and format;
- processor: ``file:process`` (waterfall) with ``files`` and ``images``: a copy without EXIF/GPS;
- connector: ``proof:created`` with ``http`` (``network.allow``): posts the proof to a
  configured URL, and says so when none is configured;
- utility: ``export:before`` (waterfall), no permission: stamps the export.

Every handler is typed (``event: dict[str, Any], ctx: HookContext``), and the tree holds a
README and ``tests/test_plugin.py``, which runs the plugin in the real sandbox (``plugin test``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from proofpix_plugins.packages.manifest import PLUGIN_TYPES

_PART: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,23}")
DEFAULT_PUBLISHER: Final = "me"


class ScaffoldError(Exception):
    """The name, publisher or target directory cannot be used (exit code 2)."""


@dataclass(frozen=True)
class Template:
    hook: str
    handler: str
    permissions: tuple[str, ...]
    category: str
    description: str
    code: str
    expects: str  # a key the handler's result must hold (the generated test checks it)
    extra: dict[str, Any]


_HEAD = '''"""{title}: {description}"""

from __future__ import annotations

from typing import Any

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()

'''

_ANALYZER = '''
@plugin.hook("file:uploaded")
def on_upload(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Report the uploaded photo's size and format (needs the ``files`` permission)."""
    data = ctx.files.read()
    kind = "jpeg" if data[:3] == b"\\xff\\xd8\\xff" else "png" if data[:4] == b"\\x89PNG" else "?"
    ctx.log.info("analyzed", filename=event.get("filename"), bytes=len(data))
    return {"bytes": len(data), "format": kind, "width": event.get("width")}
'''

_PROCESSOR = '''
@plugin.hook("file:process")
def strip_metadata(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Save a copy of the photo without EXIF/GPS (needs ``files`` and ``images``).

    file:process is a waterfall: return the event (with what you add) for the next plugin.
    """
    info = ctx.files.info()
    image = ctx.images.open()
    clean = image.copy()  # a copy carries the pixels, not the EXIF block
    derived = ctx.images.save_derived(clean, format="JPEG")
    ctx.log.info("stripped", source=info.get("sha256"), derived=derived.get("sha256"))
    # Pass the event on without the EXIF block either: later plugins see no GPS.
    rest = {k: v for k, v in event.items() if k != "exif"}
    return {**rest, "stripped": True, "derived": derived}
'''

_CONNECTOR = '''
@plugin.hook("proof:created")
def send_proof(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Post the new proof to the configured URL (needs ``http``; the host must be listed in
    plugin.json's network.allow)."""
    url = ctx.config.get("url")
    if not url:
        ctx.log.warning("no url configured; nothing sent")
        return {"sent": False, "reason": "no url configured"}
    response = ctx.http.post(url, json={"proofId": event.get("proofId"),
                                        "sha256": event.get("sha256")}, timeout=5.0)
    return {"sent": response.ok, "status": response.status}
'''

_UTILITY = '''
@plugin.hook("export:before")
def stamp_export(event: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Add who prepared the export (no permission needed).

    export:before is a waterfall: return the event (with your changes) for the next plugin.
    """
    fields = dict(event.get("fields") or {})
    fields["preparedBy"] = ctx.config.get("label", ctx.plugin_id)
    return {**event, "fields": fields, "stamped": True}
'''

TEMPLATES: Final[dict[str, Template]] = {
    "analyzer": Template("file:uploaded", "on_upload", ("files",), "analytics",
                         "reports each uploaded photo's size and format", _ANALYZER, "bytes", {}),
    "processor": Template("file:process", "strip_metadata", ("files", "images"), "privacy",
                          "saves a copy of each photo without its EXIF/GPS metadata",
                          _PROCESSOR, "derived", {}),
    "connector": Template(
        "proof:created", "send_proof", ("http",), "integration",
        "posts each new proof to a webhook URL", _CONNECTOR, "sent",
        {"network": {"allow": ["hooks.example.com"]},
         "config_schema": {"type": "object", "additionalProperties": False, "properties": {
             "url": {"type": "string", "format": "uri",
                     "description": "https://hooks.example.com/... (a host in network.allow)"},
         }}},
    ),
    "utility": Template(
        "export:before", "stamp_export", (), "workflow",
        "stamps every export with who prepared it", _UTILITY, "stamped",
        {"config_schema": {"type": "object", "additionalProperties": False, "properties": {
            "label": {"type": "string", "maxLength": 100, "default": "ProofPix"},
        }}},
    ),
}

_TEST = '''"""Runs this plugin in the real ProofPix sandbox; needs `pip install proofpix-plugins`.

    pytest tests
    proofpix-plugins plugin test .        # the same, with logs and timings
"""

from __future__ import annotations

from pathlib import Path

from proofpix_plugins.cli.local_run import run_local

PLUGIN_DIR = Path(__file__).resolve().parent.parent


def test_{handler}_answers_ok() -> None:
    # Plain raises instead of assert: the tree is packed as it is, and the scanner (bandit
    # B101) warns about asserts in shipped code.
    run = run_local(PLUGIN_DIR)
    if run.load_error is not None:
        raise AssertionError(run.load_error)
    [hook] = run.hooks
    if hook.result.status != "ok":
        raise AssertionError(hook.result.error_text())
    if "{expects}" not in hook.result.result:
        raise AssertionError(f"unexpected result: {hook.result.result!r}")
'''

_README = '''# {title}

{description}.

A ProofPix **{type}** plugin: `{hook}` → `{handler}()` in `plugin/__init__.py`{perms}.

```sh
proofpix-plugins plugin validate .     # the server's scan, offline
proofpix-plugins plugin test .         # run it in the real sandbox with a sample event
pytest tests                           # the same, as a test
proofpix-plugins plugin pack . -o {pid}.ppx
```

See docs/plugin-authoring.md in the ProofPix platform for the manifest, hooks and SDK.
'''


def check_names(name: str, publisher: str) -> None:
    for what, value in (("NAME", name), ("--publisher", publisher)):
        if not _PART.fullmatch(value):
            raise ScaffoldError(
                f"{what} {value!r} is not valid: 2-24 characters, lowercase letters and digits "
                "first, then letters, digits or '-' (e.g. 'exif-reader')")


def manifest_for(name: str, plugin_type: str, publisher: str) -> dict[str, Any]:
    t = TEMPLATES[plugin_type]
    title = name.replace("-", " ").title()
    if len(title) < 3:
        title = f"{title} plugin"
    manifest: dict[str, Any] = {
        "id": f"{publisher}.{name}", "name": title, "version": "0.1.0", "type": plugin_type,
        "description": f"{title} {t.description}.", "category": t.category, "license": "MIT",
        "entry": "plugin",
        "hooks": [{"name": t.hook, "handler": t.handler, "priority": 50}],
        "permissions": list(t.permissions),
    }
    manifest.update(json.loads(json.dumps(t.extra)))
    manifest["resources"] = {"memory_mb": 128, "timeout_ms": 5000}
    return manifest


def scaffold(target: Path, name: str, plugin_type: str, publisher: str) -> list[Path]:
    """Write the plugin tree into ``target`` (absent or empty); return the files written."""
    check_names(name, publisher)
    if plugin_type not in TEMPLATES:
        raise ScaffoldError(f"--type {plugin_type!r}: one of {', '.join(PLUGIN_TYPES)}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty directory; "
                            "choose another --dir or remove it")
    t = TEMPLATES[plugin_type]
    manifest = manifest_for(name, plugin_type, publisher)
    title = manifest["name"]
    perms = (f", permissions: {', '.join(t.permissions)}" if t.permissions
             else ", no permissions")
    files = {
        "plugin.json": json.dumps(manifest, indent=2) + "\n",
        "plugin/__init__.py": _HEAD.format(title=title, description=t.description) + t.code,
        "tests/test_plugin.py": _TEST.replace("{handler}", t.handler)
                                     .replace("{expects}", t.expects),
        "README.md": _README.format(title=title, description=manifest["description"][:-1],
                                    type=plugin_type, hook=t.hook, handler=t.handler,
                                    perms=perms, pid=manifest["id"]),
    }
    written = []
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
