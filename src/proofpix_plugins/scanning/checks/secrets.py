"""Hard-coded secrets: known credential formats in every text file, credential-named literals
and high-entropy strings in Python code.

Reports are stored and shown to reviewers, so a finding never repeats the secret: snippets are
masked to the first four characters.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass
from typing import Final

from proofpix_plugins.scanning.check import at
from proofpix_plugins.scanning.checks.obfuscation import shannon_entropy
from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.findings import Finding
from proofpix_plugins.scanning.rules import rule

#: (rule id, literal needles of which one must occur, pattern). The needles are plain substring
#: tests (run in C) that let most files skip most regular expressions.
PATTERNS: Final[tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]] = tuple(
    (rule_id, needles, re.compile(pattern)) for rule_id, needles, pattern in (
        ("PPX-SECRET-AWS", ("AKIA", "ASIA", "ABIA", "ACCA"),
         r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
        ("PPX-SECRET-AWS", ("aws", "AWS", "Aws"),
         r"(?i)aws.{0,20}secret.{0,20}['\"][0-9a-zA-Z/+]{40}['\"]"),
        ("PPX-SECRET-GITHUB", ("gh",), r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
        ("PPX-SECRET-GITHUB", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{60,255}\b"),
        ("PPX-SECRET-SLACK", ("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,250}"),
        ("PPX-SECRET-SLACK", ("hooks.slack.com",),
         r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]+"),
        ("PPX-SECRET-STRIPE", ("_live_", "_test_"),
         r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{16,247}\b"),
        ("PPX-SECRET-PRIVATE-KEY", ("PRIVATE KEY",),
         r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"),
        ("PPX-SECRET-JWT", ("eyJ",),
         r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("PPX-SECRET-API-KEY", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("PPX-SECRET-API-KEY", ("T3BlbkFJ",),
         r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
        ("PPX-SECRET-API-KEY", ("SG.",), r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
        ("PPX-SECRET-API-KEY", ("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20}\b"),
        ("PPX-SECRET-API-KEY", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("PPX-SECRET-URL-CREDENTIALS", ("://",),
         r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]{1,64}:[^\s/@'\"]{3,128}@[A-Za-z0-9.-]+"),
    )
)
_CREDENTIAL_NAME: Final = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api_?key|access_?key|private_?key|auth_?key|"
    r"client_?secret|credential)s?$"
)
_PLACEHOLDER: Final = re.compile(
    r"(?i)^(x+|\*+|\.+|-+|changeme|change-me|example.*|your[-_ ].*|<.*>|\$\{.*\}|\{.*\}|"
    r"none|null|todo|redacted|dummy|test|password|secret|placeholder|\*\*\*)$"
)
_NEWLINE: Final = re.compile("\n")
ENTROPY_MIN_LEN: Final = 20
ENTROPY_MAX_LEN: Final = 200
ENTROPY_BITS: Final = 4.3


def mask(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 4 else "…"


def _known_formats(path: str, text: str) -> list[Finding]:
    # Whole-text regex passes run in C; line numbers come from a bisect over line starts.
    out = []
    starts: list[int] | None = None
    for rule_id, needles, pattern in PATTERNS:
        if not any(needle in text for needle in needles):
            continue
        for match in pattern.finditer(text):
            if starts is None:
                starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
            index = bisect.bisect_right(starts, match.start()) - 1
            out.append(rule(rule_id).finding(
                file=path, line=index + 1, column=match.start() - starts[index] + 1,
                snippet=mask(match.group(0))))
    return out


def _credential_literal(value: ast.expr | None) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        text = value.value
        if len(text) >= 8 and not _PLACEHOLDER.match(text) and not text.isspace():
            return text
    return None


def _python_secrets(source: SourceFile, known_lines: set[int]) -> list[Finding]:
    out = []
    flagged: set[int] = set()
    for name, value in source.facts.named_values:
        if not _CREDENTIAL_NAME.search(name):
            continue
        literal = _credential_literal(value)
        if literal is None or value.lineno in known_lines:
            continue
        flagged.add(id(value))
        out.append(at("PPX-SECRET-ASSIGNMENT", source, value, f"{name} is assigned a literal",
                      snippet=f"{name} = {mask(literal)}"))
    for const in source.facts.strings:
        if id(const) in flagged or const.lineno in known_lines or not isinstance(const.value, str):
            continue
        text = const.value
        if (
            ENTROPY_MIN_LEN <= len(text) <= ENTROPY_MAX_LEN
            and not any(c.isspace() for c in text)
            and "://" not in text
            and shannon_entropy(text) >= ENTROPY_BITS
        ):
            out.append(at("PPX-SECRET-ENTROPY", source, const,
                          "random-looking literal may be a credential", snippet=mask(text)))
    return out


@dataclass
class SecretsCheck:
    id: str = "secrets"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("No credentials in the package: keys and tokens belong in config_schema "
                    "properties marked x-secret.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        out: list[Finding] = []
        for path, text in ctx.texts.items():
            out += _known_formats(path, text)
        for source in ctx.sources.values():
            if source.text is None:
                continue
            known = _known_formats(source.path, source.text)
            out += known
            if source.tree is not None:
                out += _python_secrets(source, {f.line for f in known if f.line is not None})
        return out
