"""The scanner corpus: valid packages of all four types and malicious/malformed ones, each with
the rule id it must be rejected for. Built at test time; nothing binary is committed.

Credential-looking strings are assembled from pieces so the repository itself holds no token that
a secret scanner (or a human) would mistake for a real one.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.packages.builders import (
    DROP,
    HANDLER_SOURCE,
    Raw,
    corrupt_entry_data,
    make_ppx,
    manifest,
    mark_encrypted,
    patch_central_offset,
    patch_central_sizes,
)


@dataclass(frozen=True)
class Case:
    name: str
    expected: str = ""
    files: dict[str, str | bytes] = field(default_factory=dict)
    manifest: dict[str, Any] | bytes | None = None
    extra: tuple[Raw, ...] = ()
    default_source: bool = True
    post: Callable[[Path], None] | None = None
    raw: bytes | None = None

    def build(self, directory: Path) -> Path:
        path = directory / f"{self.name}.ppx"
        if self.raw is not None:
            path.write_bytes(self.raw)
            return path
        make_ppx(path, self.files, self.manifest, extra=list(self.extra),
                 with_default_source=self.default_source)
        if self.post is not None:
            self.post(path)
        return path


def code(case: str, expected: str, body: str, /, *, perms: tuple[str, ...] = ("files",),
         **manifest_overrides: Any) -> Case:
    """A package whose entry module is the default handler plus ``body``."""
    return Case(case, expected, files={"plugin/__init__.py": HANDLER_SOURCE + "\n" + body},
                manifest=manifest(permissions=list(perms), **manifest_overrides))


def man(case: str, expected: str, /, **overrides: Any) -> Case:
    return Case(case, expected, manifest=manifest(**overrides))


# Credential-shaped test strings, assembled so no literal token sits in the repository.
AWS_KEY = "AKIA" + "Q3EXAMPLE7TESTKEY"[:16]
GITHUB_TOKEN = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK_TOKEN = "xox" + "b-" + "1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE_KEY = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
GOOGLE_KEY = "AI" + "za" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
JWT = ".".join([
    base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("="),
    base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"x"}').decode().rstrip("="),
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
])
PRIVATE_KEY = ("-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n"
               "-----END RSA PRIVATE KEY-----\n")

_RNG = random.Random(1234)  # noqa: S311 - reproducible test data, not cryptography
RANDOM_B64 = base64.b64encode(bytes(_RNG.randrange(256) for _ in range(1500))).decode()
RANDOM_HEX = bytes(_RNG.randrange(256) for _ in range(600)).hex()
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 60
PYC = (3495).to_bytes(2, "little") + b"\r\n" + b"\x00" * 12 + b"\xe3" + b"\x00" * 40


def _zip_of(name: str, source: str) -> bytes:
    """A zip zipimport would load ``name`` from, built in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, source)
    return buf.getvalue()


NESTED_ZIP = _zip_of("hidden.py", "import socket\n")


def _too_large(path: Path) -> None:
    patch_central_sizes(path, "assets/data.txt", file_size=300 * 1024 * 1024)


def _overlap(path: Path) -> None:
    patch_central_offset(path, "assets/bbb.txt", same_as="assets/aaa.txt")


def _corrupt(path: Path) -> None:
    corrupt_entry_data(path, "assets/stored.txt")


MALICIOUS: list[Case] = [
    # --- archive -----------------------------------------------------------------------------
    Case("zip-slip", "PPX-ARC-PATH-TRAVERSAL", extra=(Raw("../../evil.py", b"x = 1\n"),)),
    Case("zip-slip-nested", "PPX-ARC-PATH-TRAVERSAL",
         extra=(Raw("plugin/../../etc/cron.d/job", b"* * * * * root sh\n"),)),
    Case("absolute-path", "PPX-ARC-ABSOLUTE-PATH", extra=(Raw("/etc/cron.d/job", b"x"),)),
    Case("backslash-path", "PPX-ARC-BACKSLASH", extra=(Raw("..\\..\\evil.py", b"x = 1\n"),)),
    Case("drive-letter", "PPX-ARC-DRIVE-LETTER", extra=(Raw("C:/Windows/evil.py", b"x = 1\n"),)),
    Case("symlink", "PPX-ARC-SYMLINK",
         extra=(Raw("assets/link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777),)),
    Case("fifo", "PPX-ARC-SPECIAL-FILE",
         extra=(Raw("assets/pipe", b"", mode=stat.S_IFIFO | 0o644),)),
    Case("char-device", "PPX-ARC-SPECIAL-FILE",
         extra=(Raw("assets/mem", b"", mode=stat.S_IFCHR | 0o644),)),
    Case("native-so", "PPX-ARC-NATIVE-CODE", extra=(Raw("plugin/_speedups.so", ELF),)),
    Case("native-dll", "PPX-ARC-NATIVE-CODE",
         extra=(Raw("plugin/helper.dll", b"MZ" + b"\0" * 80),)),
    Case("native-disguised", "PPX-ARC-NATIVE-CODE", extra=(Raw("assets/data.bin", ELF),)),
    Case("bytecode-pyc", "PPX-ARC-BYTECODE",
         extra=(Raw("plugin/__pycache__/x.cpython-311.pyc", PYC),)),
    Case("bytecode-disguised", "PPX-ARC-BYTECODE", extra=(Raw("assets/cache.dat", PYC),)),
    Case("nested-zip-disguised", "PPX-ARC-NESTED-ARCHIVE",
         extra=(Raw("plugin/blob.dat", NESTED_ZIP),)),
    Case("nested-zip-appended", "PPX-ARC-NESTED-ARCHIVE",
         extra=(Raw("assets/photo.jpg", b"\xff\xd8\xff\xe0" + b"\x01" * 300 + NESTED_ZIP),)),
    Case("nested-gzip", "PPX-ARC-NESTED-ARCHIVE",
         extra=(Raw("assets/table.bin", gzip.compress(bytes(range(256)))),)),
    Case("zip-bomb-ratio", "PPX-ARC-RATIO", extra=(Raw("assets/zeros.txt", b"\0" * (8 << 20)),)),
    Case("zip-bomb-declared-size", "PPX-ARC-TOO-LARGE",
         extra=(Raw("assets/data.txt", b"a" * 100, compress=zipfile.ZIP_STORED),), post=_too_large),
    Case("zip-bomb-overlap", "PPX-ARC-OVERLAP",
         extra=(Raw("assets/aaa.txt", b"x" * 50, compress=zipfile.ZIP_STORED),
                Raw("assets/bbb.txt", b"y" * 50, compress=zipfile.ZIP_STORED)), post=_overlap),
    Case("too-many-entries", "PPX-ARC-TOO-MANY-ENTRIES",
         extra=tuple(Raw(f"assets/f{i}.txt", b"") for i in range(2001))),
    Case("duplicate-name", "PPX-ARC-DUPLICATE",
         extra=(Raw("plugin/__init__.py", b"import socket\n"),)),
    Case("case-duplicate", "PPX-ARC-DUPLICATE", extra=(Raw("Plugin/__init__.py", b"x = 1\n"),)),
    Case("no-manifest", "PPX-ARC-NO-MANIFEST", files={"plugin.json.bak": "{}"},
         post=lambda p: _drop_entry(p, "plugin.json")),
    Case("not-a-zip", "PPX-ARC-NOT-ZIP", raw=b"this is not a zip archive\n" * 10),
    Case("encrypted-entry", "PPX-ARC-ENCRYPTED", extra=(Raw("assets/secret.bin", b"x"),),
         post=lambda p: mark_encrypted(p, "assets/secret.bin")),
    Case("bzip2-entry", "PPX-ARC-COMPRESSION",
         extra=(Raw("assets/a.txt", b"hello", compress=zipfile.ZIP_BZIP2),)),
    Case("corrupt-crc", "PPX-ARC-CORRUPT",
         extra=(Raw("assets/stored.txt", b"hello world", compress=zipfile.ZIP_STORED),),
         post=_corrupt),
    Case("control-char-name", "PPX-ARC-BAD-NAME", extra=(Raw("assets/evil\x1b[2J.txt", b"x"),)),
    # --- manifest ----------------------------------------------------------------------------
    Case("manifest-not-json", "PPX-MAN-JSON", manifest=b"{not json"),
    Case("manifest-duplicate-key", "PPX-MAN-DUPLICATE-KEY",
         manifest=b'{"id": "acme.sample", "id": "other.sample", "name": "Sample", '
                  b'"version": "1.0.0", "type": "analyzer"}'),
    Case("manifest-too-large", "PPX-MAN-TOO-LARGE",
         manifest=json.dumps(manifest(description=RANDOM_B64 * 200)).encode()),
    Case("manifest-too-deep", "PPX-MAN-JSON", manifest=b'{"x":' * 40 + b"1" + b"}" * 40),
    man("manifest-missing-version", "PPX-MAN-REQUIRED", version=DROP),
    man("manifest-unknown-field", "PPX-MAN-UNKNOWN-FIELD", postinstall="rm -rf /"),
    man("manifest-wrong-type", "PPX-MAN-WRONG-TYPE",
        hooks=[{"name": "file:uploaded", "handler": "on_upload", "priority": "50"}]),
    man("manifest-bad-id", "PPX-MAN-ID", id="Acme.Sample"),
    man("manifest-bad-version", "PPX-MAN-VERSION", version="1.0"),
    man("manifest-build-metadata", "PPX-MAN-VERSION", version="1.0.0+build.5"),
    man("manifest-bad-type", "PPX-MAN-TYPE", type="scanner"),
    man("manifest-bad-category", "PPX-MAN-CATEGORY", category="games"),
    man("manifest-unknown-permission", "PPX-MAN-PERMISSION", permissions=["files", "root"]),
    man("manifest-duplicate-permission", "PPX-MAN-PERMISSION-DUPLICATE",
        permissions=["files", "files"]),
    man("manifest-priority-range", "PPX-MAN-RANGE",
        hooks=[{"name": "file:uploaded", "handler": "on_upload", "priority": 101}]),
    man("manifest-memory-range", "PPX-MAN-RANGE", resources={"memory_mb": 4096}),
    man("manifest-timeout-range", "PPX-MAN-RANGE", resources={"timeout_ms": 60000}),
    man("manifest-bad-hook-name", "PPX-MAN-HOOK-NAME",
        hooks=[{"name": "upload", "handler": "on_upload"}]),
    man("manifest-bad-handler", "PPX-MAN-HANDLER",
        hooks=[{"name": "file:uploaded", "handler": "on-upload"}]),
    man("manifest-duplicate-hook", "PPX-MAN-HOOK-DUPLICATE",
        hooks=[{"name": "file:uploaded", "handler": "on_upload"}] * 2),
    man("manifest-ip-host", "PPX-MAN-NETWORK-HOST", permissions=["files", "http"],
        network={"allow": ["169.254.169.254"]}),
    man("manifest-tld-wildcard", "PPX-MAN-NETWORK-HOST", permissions=["files", "http"],
        network={"allow": ["*.com"]}),
    man("manifest-network-without-http", "PPX-MAN-NETWORK-WITHOUT-HTTP",
        network={"allow": ["api.example.com"]}),
    man("manifest-bad-config-schema", "PPX-MAN-CONFIG-SCHEMA",
        config_schema={"type": "object", "properties": {"a": {"type": "strin"}}}),
    man("manifest-remote-ref", "PPX-MAN-CONFIG-SCHEMA",
        config_schema={"type": "object", "properties": {"a": {"$ref": "https://evil/s.json"}}}),
    man("manifest-ref-cycle-root", "PPX-MAN-CONFIG-SCHEMA-REF-CYCLE",
        config_schema={"type": "object", "$ref": "#"}),
    man("manifest-ref-cycle-defs", "PPX-MAN-CONFIG-SCHEMA-REF-CYCLE",
        config_schema={"type": "object", "$ref": "#/$defs/a",
                       "$defs": {"a": {"$ref": "#/$defs/b"},
                                 "b": {"allOf": [{"$ref": "#/$defs/a"}]}}}),
    man("manifest-unresolvable-ref", "PPX-MAN-CONFIG-SCHEMA",
        config_schema={"type": "object", "properties": {"a": {"$ref": "#/$defs/none"}}}),
    man("manifest-regex-backreference", "PPX-MAN-CONFIG-SCHEMA-REGEX",
        config_schema={"type": "object", "properties": {"a": {"pattern": "^(a)\\1$"}}}),
    man("manifest-regex-lookahead-key", "PPX-MAN-CONFIG-SCHEMA-REGEX",
        config_schema={"type": "object", "patternProperties": {"^(?!x)": {}}}),
    man("manifest-bad-specifier", "PPX-MAN-SPECIFIER", engines={"proofpix": "~=banana"}),
    man("manifest-self-dependency", "PPX-MAN-DEPENDENCY", dependencies={"acme.sample": ">=1"}),
    man("manifest-short-name", "PPX-MAN-LENGTH", name="ab"),
    man("manifest-bad-entry", "PPX-MAN-ENTRY", entry="1plugin"),
    man("manifest-js-homepage", "PPX-MAN-URL", homepage="javascript:alert(1)"),
    man("manifest-bad-tag", "PPX-MAN-TAG", tags=["Has Spaces"]),
    man("manifest-bad-email", "PPX-MAN-EMAIL", author={"name": "A", "email": "not-an-email"}),
    man("manifest-spoof-name", "PPX-MAN-NAME", name=" Official Plugin"),
    # --- structure and compatibility ---------------------------------------------------------
    Case("missing-entry", "PPX-STRUCT-NO-ENTRY", default_source=False,
         files={"other/__init__.py": HANDLER_SOURCE}),
    code("missing-handler", "PPX-STRUCT-NO-HANDLER", "",
         hooks=[{"name": "file:uploaded", "handler": "nope"}]),
    Case("async-handler", "PPX-STRUCT-HANDLER-ASYNC", files={"plugin/__init__.py":
         "async def on_upload(event, ctx):\n    return {}\n"}),
    Case("handler-signature", "PPX-STRUCT-HANDLER-SIGNATURE", files={"plugin/__init__.py":
         "def on_upload():\n    return {}\n"}),
    code("undeclared-hook", "PPX-STRUCT-HOOK-MISMATCH",
         '@plugin.hook("proof:created")\ndef sneaky(event: dict, ctx: HookContext) -> dict:\n'
         '    return {}\n'),
    Case("shadow-stdlib", "PPX-STRUCT-SHADOW", files={"json.py": "def loads(s):\n    return s\n"}),
    Case("shadow-sdk", "PPX-STRUCT-SHADOW",
         files={"proofpix_sdk/__init__.py": "class Plugin:\n    pass\n"}),
    Case("sitecustomize", "PPX-STRUCT-SHADOW", files={"sitecustomize.py": "x = 1\n"}),
    man("engine-proofpix", "PPX-COMPAT-PROOFPIX", engines={"proofpix": ">=99"}),
    man("engine-python", "PPX-COMPAT-PYTHON", engines={"python": "<3"}),
    # --- sources -----------------------------------------------------------------------------
    code("syntax-error", "PPX-SRC-SYNTAX", "def broken(:\n"),
    Case("not-utf8", "PPX-SRC-ENCODING",
         files={"plugin/helpers.py": "name = 'caf\xe9'\n".encode("latin-1")}),
    # --- dynamic code --------------------------------------------------------------------------
    code("eval", "PPX-DYN-EVAL", "def f(x):\n    return eval(x)\n"),
    code("exec", "PPX-DYN-EVAL", "def f(x):\n    exec(x)\n"),
    code("compile", "PPX-DYN-EVAL", "def f(x):\n    return compile(x, 'x', 'exec')\n"),
    code("builtins-eval", "PPX-DYN-EVAL", "import builtins as b\nb.eval('1')\n"),
    code("dunder-import", "PPX-DYN-IMPORT", "m = __import__('o' + 's')\n"),
    code("import-module-computed", "PPX-DYN-IMPORT",
         "import importlib\ndef f(n):\n    return importlib.import_module(n)\n"),
    code("getattr-dunder", "PPX-DYN-DUNDER-ATTR",
         "def f(fn):\n    return getattr(fn, '__dict__')\n"),
    code("custom-loader", "PPX-DYN-LOADER",
         "import importlib.util\nspec = importlib.util.spec_from_file_location('x', 'x.py')\n"),
    # --- escape gadgets ------------------------------------------------------------------------
    code("subclasses", "PPX-ESC-SUBCLASSES", "leak = ().__class__.__base__.__subclasses__()\n"),
    code("func-globals", "PPX-ESC-GLOBALS", "g = on_upload.__globals__\n"),
    code("builtins-name", "PPX-ESC-BUILTINS", "o = __builtins__['open']\n"),
    code("builtins-module", "PPX-ESC-BUILTINS", "import builtins\n"),
    code("code-object", "PPX-ESC-CODE", "c = on_upload.__code__\n"),
    code("getframe", "PPX-ESC-FRAME", "import sys\nf = sys._getframe(1)\n"),
    code("inspect-frame", "PPX-ESC-FRAME", "import inspect\nf = inspect.currentframe().f_back\n"),
    code("gc-referrers", "PPX-ESC-GC", "import gc\nr = gc.get_referrers(on_upload)\n"),
    code("sys-modules", "PPX-ESC-SYS-MODULES", "import sys\nos_mod = sys.modules['os']\n"),
    code("mro-walk", "PPX-ESC-MRO", "base = int.__mro__[-1]\n"),
    code("gadget-in-string", "PPX-ESC-SUBCLASSES", "name = 'x.__subclasses__'\n"),
    # --- process / network / native -----------------------------------------------------------
    code("socket", "PPX-MOD-SOCKET", "import socket\n"),
    code("subprocess", "PPX-MOD-SUBPROCESS", "import subprocess\n"),
    code("subprocess-alias", "PPX-MOD-SUBPROCESS", "from subprocess import run as r\nr(['id'])\n"),
    code("asyncio-subprocess", "PPX-MOD-SUBPROCESS",
         "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('id')\n"),
    code("ctypes", "PPX-MOD-NATIVE", "import ctypes\n"),
    code("multiprocessing", "PPX-MOD-MULTIPROCESSING", "from multiprocessing import Pool\n"),
    code("os-system", "PPX-MOD-OS-EXEC", "import os\nos.system('id')\n"),
    code("os-exec-alias", "PPX-MOD-OS-EXEC", "import os as o\no.execv('/bin/sh', ['sh'])\n"),
    code("os-fork", "PPX-MOD-OS-EXEC", "import os\npid = os.fork()\n"),
    code("posix-module", "PPX-MOD-OS-EXEC", "import posix\n"),
    code("pickle-loads", "PPX-MOD-DESERIALIZE",
         "import pickle\ndef f(b):\n    return pickle.loads(b)\n"),
    code("marshal-loads", "PPX-MOD-DESERIALIZE", "from marshal import loads\n"),
    code("smtplib", "PPX-MOD-NETWORK", "import smtplib\n"),
    code("import-module-socket", "PPX-MOD-SOCKET",
         "import importlib\ns = importlib.import_module('socket')\n"),
    # --- obfuscation ---------------------------------------------------------------------------
    code("b64-exec", "PPX-OBF-DECODE-EXEC",
         "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n"),
    code("zlib-exec-via-name", "PPX-OBF-DECODE-EXEC",
         "import zlib\nblob = b'x'\ncode = zlib.decompress(blob)\nrun = code\nexec(run)\n"),
    code("rot13-eval", "PPX-OBF-DECODE-EXEC",
         "import codecs\neval(codecs.decode('cevag(1)', 'rot13'))\n"),
    code("fromhex-exec", "PPX-OBF-DECODE-EXEC", "exec(bytes.fromhex('7072696e74283129'))\n"),
    code("b64-import", "PPX-OBF-DECODE-EXEC",
         "import base64\nm = __import__(base64.b64decode('b3M=').decode())\n"),
    code("chr-chain", "PPX-OBF-CHR-CHAIN",
         "n = chr(115)+chr(111)+chr(99)+chr(107)+chr(101)+chr(116)+chr(115)+chr(33)\n"),
    code("map-chr", "PPX-OBF-CHR-CHAIN", "n = ''.join(map(chr, [115, 111, 99]))\n"),
    code("int-array-bytes", "PPX-OBF-CHR-CHAIN",
         "n = bytes([115, 111, 99, 107, 101, 116, 115, 33, 33]).decode()\n"),
    code("high-entropy-blob", "PPX-OBF-HIGH-ENTROPY", f"BLOB = {RANDOM_B64!r}\n"),
    code("hex-blob", "PPX-OBF-HIGH-ENTROPY", f"BLOB = {RANDOM_HEX!r}\n"),
    code("homoglyph", "PPX-OBF-HOMOGLYPH", "def ev\u0430l(x):\n    return x\n"),
    code("bidi", "PPX-OBF-BIDI", "access = 'user' # \u202e } \u2066 if admin \u2069 \u2066\n"),
    Case("utf7-cookie", "PPX-OBF-ENCODING",
         files={"plugin/helpers.py": "# -*- coding: utf-7 -*-\nx = 1\n"}),
    # --- file access ---------------------------------------------------------------------------
    code("etc-passwd", "PPX-FS-SENSITIVE-PATH",
         "def f():\n    return open('/etc/passwd').read()\n"),
    code("proc-environ", "PPX-FS-SENSITIVE-PATH",
         "from pathlib import Path\nenv = Path('/proc/self/environ')\n"),
    code("absolute-path", "PPX-FS-ABSOLUTE-PATH", "def f():\n    return open('/data/x.db')\n"),
    code("parent-path", "PPX-FS-PARENT-PATH", "def f():\n    return open('../../secret.txt')\n"),
    code("expanduser", "PPX-FS-HOME",
         "import os\np = os.path.expanduser('~/.aws/credentials')\n"),
    code("path-home", "PPX-FS-HOME", "from pathlib import Path\nh = Path.home()\n"),
    # --- permissions ---------------------------------------------------------------------------
    code("httpx-without-http", "PPX-PERM-IMPORT", "import httpx\n"),
    code("urllib-without-http", "PPX-PERM-IMPORT", "from urllib.request import urlopen\n"),
    code("pil-without-images", "PPX-PERM-IMPORT", "from PIL import Image\n"),
    code("hashlib-without-crypto", "PPX-PERM-IMPORT", "import hashlib\n"),
    code("ctx-http-undeclared", "PPX-PERM-UNDECLARED",
         "def g(event: dict, ctx: HookContext) -> None:\n    ctx.http.get('https://x.example')\n"),
    code("ctx-storage-undeclared", "PPX-PERM-UNDECLARED",
         "def g(event: dict, context: HookContext) -> None:\n    context.storage.set('a', 1)\n"),
    # --- secrets -------------------------------------------------------------------------------
    code("aws-key", "PPX-SECRET-AWS", f"KEY_ID = {AWS_KEY!r}\n"),
    code("github-token", "PPX-SECRET-GITHUB", f"TOKEN = {GITHUB_TOKEN!r}\n"),
    code("slack-token", "PPX-SECRET-SLACK", f"SLACK = {SLACK_TOKEN!r}\n"),
    code("stripe-key", "PPX-SECRET-STRIPE", f"STRIPE = {STRIPE_KEY!r}\n"),
    code("google-key", "PPX-SECRET-API-KEY", f"G = {GOOGLE_KEY!r}\n"),
    code("jwt", "PPX-SECRET-JWT", f"BEARER = {JWT!r}\n"),
    Case("private-key-asset", "PPX-SECRET-PRIVATE-KEY", files={"assets/deploy.pem": PRIVATE_KEY}),
    code("password-assignment", "PPX-SECRET-ASSIGNMENT", "db_password = 'Tr0ub4dor&3xyz'\n"),
    code("url-credentials", "PPX-SECRET-URL-CREDENTIALS",
         "DSN = 'postgres://admin:s3cretpw@db.internal/prod'\n"),
    Case("secret-in-readme", "PPX-SECRET-AWS", files={"README.md": f"key: {AWS_KEY}\n"}),
    # --- bandit-only findings -------------------------------------------------------------------
    code("bandit-tls-verify-off", "PPX-BANDIT-B501",
         "import requests\ndef f():\n    return requests.get('https://api.example.com', "
         "verify=False, timeout=5)\n", perms=("files", "http"),
         network={"allow": ["api.example.com"]}),
]


def _drop_entry(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist() if i.filename != name]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in items:
            zf.writestr(info, data)


# --- valid packages ---------------------------------------------------------------------------

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = ("exif-reader", "gps-stripper", "webhook-notifier", "upload-counter")


def _valid(name: str, source: str, /, *, extra_files: dict[str, str | bytes] | None = None,
           **overrides: Any) -> Case:
    files: dict[str, str | bytes] = {"plugin/__init__.py": source}
    files.update(extra_files or {})
    return Case(name, files=files, manifest=manifest(id=f"acme.{name}", **overrides))


_HEAD = "from proofpix_sdk import HookContext, Plugin\n\nplugin = Plugin()\n\n\n"

VALID: list[Case] = [
    _valid("minimal-analyzer", HANDLER_SOURCE),
    _valid("split-analyzer",
           _HEAD + "from .sizes import human\n\n\n"
           "def on_upload(event: dict, ctx: HookContext) -> dict:\n"
           "    \"\"\"Never touches __subclasses__ or __globals__ (docstrings aren't code).\"\"\"\n"
           "    return {'size': human(len(ctx.files.read()))}\n",
           extra_files={"plugin/sizes.py": "UNITS = ('B', 'KB', 'MB')\n\n\n"
                        "def human(n: int) -> str:\n"
                        "    for unit in UNITS:\n        if n < 1024:\n"
                        "            return f'{n} {unit}'\n        n //= 1024\n"
                        "    return f'{n} GB'\n",
                        "README.md": "# Split analyzer\n\nReports human-readable sizes.\n",
                        "assets/icon.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4},
           category="analytics", tags=["size"], license="MIT",
           author={"name": "Acme", "email": "dev@acme.example", "url": "https://acme.example"},
           homepage="https://acme.example/split"),
    _valid("thumbnailer",
           _HEAD + "from PIL import Image\n\n\n"
           "def make_thumb(event: dict, ctx: HookContext) -> dict:\n"
           "    img = ctx.images.open()\n    img.thumbnail((256, 256), Image.Resampling.LANCZOS)\n"
           "    return {'thumb': ctx.images.save_derived(img, format='JPEG')}\n",
           type="processor", permissions=["images"],
           hooks=[{"name": "file:process", "handler": "make_thumb", "priority": 20}],
           config_schema={"type": "object", "properties": {"size": {"type": "integer"}}}),
    _valid("slack-connector",
           _HEAD + "def post(event: dict, ctx: HookContext) -> dict:\n"
           "    token = ctx.config['token']\n"
           "    r = ctx.http.post('https://slack.com/api/chat.postMessage', json={'text': 'hi'},\n"
           "                      headers={'Authorization': 'Bearer ' + token})\n"
           "    return {'status': r.status}\n",
           type="connector", permissions=["http", "secrets"], category="integration",
           network={"allow": ["slack.com", "*.slack.com"]},
           hooks=[{"name": "proof:created", "handler": "post"}],
           config_schema={"type": "object", "properties": {
               "token": {"type": "string", "x-secret": True}}}),
    _valid("checksum-connector",
           _HEAD + "import hashlib\nimport hmac\n\n\n"
           "def sign(event: dict, ctx: HookContext) -> dict:\n"
           "    digest = hashlib.sha256(ctx.files.read()).hexdigest()\n"
           "    mac = hmac.new(b'k', digest.encode(), 'sha256').hexdigest()\n"
           "    return {'sha256': digest, 'mac': mac}\n",
           type="connector", permissions=["files", "crypto"],
           hooks=[{"name": "file:uploaded", "handler": "sign"}]),
    _valid("event-relay",
           _HEAD + "def relay(event: dict, ctx: HookContext) -> dict:\n"
           "    seen = ctx.storage.get('seen', 0) + 1\n    ctx.storage.set('seen', seen)\n"
           "    ctx.events.emit('acme:relayed', {'seen': seen})\n    return {'seen': seen}\n",
           type="utility", permissions=["storage", "events"], category="workflow",
           hooks=[{"name": "metadata:extracted", "handler": "relay", "priority": 0}]),
    Case("module-entry", files={"main.py": HANDLER_SOURCE}, default_source=False,
         manifest=manifest(id="acme.module-entry", entry="main", type="utility")),
    Case("nested-entry", files={"acme_pkg/__init__.py": "", "acme_pkg/core/__init__.py":
                                HANDLER_SOURCE}, default_source=False,
         manifest=manifest(id="acme.nested-entry", entry="acme_pkg.core", type="utility")),
    _valid("md5-analyzer",
           _HEAD + "import hashlib\n\n\n"
           "def on_upload(event: dict, ctx: HookContext) -> dict:\n"
           "    return {'md5': hashlib.md5(ctx.files.read()).hexdigest()}\n",
           permissions=["files", "crypto"]),
    _valid("prerelease-processor",
           _HEAD + "def on_upload(event: dict, ctx: HookContext) -> dict:\n"
           "    meta = ctx.metadata.get()\n    meta['checked'] = True\n"
           "    ctx.metadata.set(meta)\n    return event\n",
           type="processor", version="2.0.0-rc.1", permissions=["metadata"],
           dependencies={"proofpix.exif-reader": ">=1.0,<2"},
           engines={"proofpix": ">=0.1,<1", "python": ">=3.11"},
           resources={"memory_mb": 1024, "timeout_ms": 30000, "cpu_seconds": 2.5}),
]


def write_example_ppx(name: str, directory: Path) -> Path:
    from proofpix_plugins.packages.pack import write_archive

    out = directory / f"{name}.ppx"
    write_archive(EXAMPLES_DIR / name, out)
    return out


def all_rule_ids() -> set[str]:
    return {c.expected for c in MALICIOUS}

