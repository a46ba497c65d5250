"""Obfuscation: decoded blobs fed to code execution, chr() chains, encoded literals, look-alike
identifiers, bidi controls and exotic source encodings."""

from __future__ import annotations

import ast
import io
import math
import re
import string
import tokenize
from collections import Counter
from dataclasses import dataclass
from typing import Final

from proofpix_plugins.scanning.check import at
from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.facts import CodeFacts, const_text
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule

DECODERS: Final = re.compile(
    r"base64\.\w*decode\w*|binascii\.(a2b_\w+|unhexlify|rledecode_hqx)|"
    r"(zlib|gzip|bz2|lzma)\.decompress|codecs\.(decode|getdecoder|lookup)|"
    r"(bytes|bytearray|str)\.(fromhex|maketrans)|marshal\.loads?|chr|"
    r"(zlib|bz2|lzma)\.\w*Decompressor|quopri\.decodestring|uu\.decode"
)
SINKS: Final = frozenset({"exec", "eval", "compile", "__import__", "importlib.import_module",
                          "builtins.exec", "builtins.eval", "builtins.compile", "execfile",
                          "types.FunctionType", "types.CodeType", "getattr", "runpy.run_path"})
CHR_CHAIN_MIN: Final = 8
BLOB_MIN_CHARS: Final = 512
HIGH_ENTROPY_MIN_CHARS: Final = 1024
HIGH_ENTROPY_BITS: Final = 4.5
LONG_LITERAL_CHARS: Final = 20_000
_BASE64: Final = frozenset(string.ascii_letters + string.digits + "+/=_-\n")
_HEX: Final = frozenset(string.hexdigits)
_BIDI: Final = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_COOKIE: Final = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)


def shannon_entropy(text: str | bytes) -> float:
    """Bits per symbol."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _is_decoder_call(facts: CodeFacts, node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = facts.dotted(node.func)
    if name is not None and DECODERS.fullmatch(name):
        return True
    # x.decode("rot13"/"hex"/"base64"...) with a codec argument: codec tricks.
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in ("decode", "fromhex")
        and any(isinstance(a, ast.Constant) and isinstance(a.value, str)
                and a.value.lower().replace("-", "_") in ("rot13", "rot_13", "hex", "base64",
                                                          "zlib", "bz2", "uu", "quopri")
                for a in node.args)
    )


def _tainted_names(facts: CodeFacts) -> set[str]:
    """Names assigned (anywhere) from decoded data, followed through plain re-assignments."""
    tainted: set[str] = set()
    for _ in range(4):
        before = len(tainted)
        for target, value in facts.assignments:
            if target in tainted:
                continue
            for sub in ast.walk(value):
                if _is_decoder_call(facts, sub) or (
                    isinstance(sub, ast.Name) and sub.id in tainted
                ):
                    tainted.add(target)
                    break
        if len(tainted) == before:
            break
    return tainted


def _decode_exec(source: SourceFile) -> list[Finding]:
    facts = source.facts
    out = []
    tainted: set[str] | None = None
    for call in facts.calls:
        if call.name not in SINKS or not (call.node.args or call.node.keywords):
            continue
        if tainted is None:
            tainted = _tainted_names(facts)
        args = [*call.node.args, *(k.value for k in call.node.keywords)]
        for arg in args:
            if any(_is_decoder_call(facts, sub) or (isinstance(sub, ast.Name) and sub.id in tainted)
                   for sub in ast.walk(arg)):
                out.append(at("PPX-OBF-DECODE-EXEC", source, call.node,
                              f"decoded data reaches {call.name}()"))
                break
    return out


def _int_list(node: ast.AST, minimum: int) -> bool:
    return (
        isinstance(node, ast.List | ast.Tuple)
        and len(node.elts) >= minimum
        and all(isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts)
    )


def _chr_chains(source: SourceFile) -> list[Finding]:
    facts = source.facts
    counts: dict[int, int] = {}
    statements: dict[int, ast.stmt] = {}
    hits: set[int] = set()
    for call in facts.calls:
        stmt = call.statement
        if stmt is None:
            continue
        key = id(stmt)
        statements[key] = stmt
        node = call.node
        if call.name in ("chr", "builtins.chr"):
            counts[key] = counts.get(key, 0) + 1
        # map(chr, [...]) and bytes([...]).decode(): the same trick in other clothes.
        elif node.args and (
            (call.name == "map" and facts.dotted(node.args[0]) == "chr")
            or (call.name in ("bytes", "bytearray") and _int_list(node.args[0], CHR_CHAIN_MIN))
        ):
            hits.add(key)
    for comp, stmt in facts.comprehensions:
        if stmt is not None and _int_list(comp.iter, CHR_CHAIN_MIN) and counts.get(id(stmt)):
            hits.add(id(stmt))
    hits.update(key for key, n in counts.items() if n >= CHR_CHAIN_MIN)
    return [at("PPX-OBF-CHR-CHAIN", source, statements[key],
               "string assembled from character codes") for key in sorted(
                   hits, key=lambda k: statements[k].lineno)]


def _literals(source: SourceFile) -> list[Finding]:
    out = []
    for const in source.facts.strings:
        text = const_text(const)
        n = len(text)
        if n < BLOB_MIN_CHARS:
            continue
        charset = set(text)
        encoded = charset <= _BASE64 or charset <= _HEX
        snippet = text[:40] + "..."
        if (encoded and n >= BLOB_MIN_CHARS) or (
            n >= HIGH_ENTROPY_MIN_CHARS and shannon_entropy(text) >= HIGH_ENTROPY_BITS
        ):
            out.append(at("PPX-OBF-HIGH-ENTROPY", source, const,
                          f"{n}-character encoded-looking literal", snippet=snippet))
        elif n >= LONG_LITERAL_CHARS:
            out.append(at("PPX-OBF-LONG-LITERAL", source, const, f"{n}-character literal",
                          snippet=snippet))
    return out


def _text_level(source: SourceFile) -> list[Finding]:
    """Rules on the raw text: coding cookie, bidi controls, non-ASCII identifiers."""
    out = []
    head = b"\n".join(source.raw.splitlines()[:2]).decode("latin-1")
    match = _COOKIE.search(head)
    if match and match.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        out.append(rule("PPX-OBF-ENCODING").finding(
            f"declares coding {match.group(1)!r}", file=source.path, line=1,
            snippet=source.snippet(1)))
    text = source.text or ""
    if text.isascii():
        return out
    for lineno, line in enumerate(source.lines, start=1):
        if _BIDI.search(line):
            out.append(rule("PPX-OBF-BIDI").finding(
                "bidirectional control character", file=source.path, line=lineno,
                snippet=line.encode("unicode_escape").decode("ascii")[:160]))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return out
    for tok in tokens:
        if tok.type == tokenize.NAME and not tok.string.isascii():
            out.append(rule("PPX-OBF-HOMOGLYPH").finding(
                f"identifier {tok.string!r} is not ASCII", file=source.path, line=tok.start[0],
                column=tok.start[1] + 1, snippet=source.snippet(tok.start[0])))
    return out


@dataclass
class ObfuscationCheck:
    id: str = "obfuscation"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("Code reads as it runs: no decoded payloads, chr() chains, encoded blobs, "
                    "look-alike identifiers, bidi tricks or exotic source encodings.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        out: list[Finding] = []
        for source in ctx.sources.values():
            if source.text is not None:
                out += _text_level(source)
            if source.tree is not None:
                out += _decode_exec(source)
                out += _chr_chains(source)
                out += _literals(source)
        return out
