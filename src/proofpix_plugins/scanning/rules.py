"""Every rule the scanner can report: stable id, default severity, what it catches and why.

This registry is the single source of the rule list: the SARIF ``rules`` array and
``docs/scanner-rules.md`` (``proofpix-plugins plugin rules``) are generated from it,
and a test keeps the document in sync. Rule ids never change meaning; retired ids are not reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from proofpix_plugins.scanning.findings import Finding, Severity

C, H, M, L = Severity.critical, Severity.high, Severity.medium, Severity.low


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    why: str

    def finding(
        self,
        message: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        snippet: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(self.id, severity or self.severity, message or self.title, file, line,
                       column, snippet)


_R = Rule
_ALL: Final[tuple[Rule, ...]] = (
    # Archive (SPEC §2)
    _R("PPX-ARC-NOT-ZIP", H, "The file is not a readable zip archive",
       "Nothing else can be checked."),
    _R("PPX-ARC-TOO-LARGE", H, "Archive, entry or expansion exceeds the size limits",
       "50 MB compressed / 200 MB uncompressed bound storage and scan time."),
    _R("PPX-ARC-TOO-MANY-ENTRIES", H, "More than 2,000 entries", "Bounds scan and extract time."),
    _R("PPX-ARC-RATIO", C, "Entry compression ratio above 100 (zip bomb)",
       "Highly compressed entries exhaust disk and memory on extraction."),
    _R("PPX-ARC-OVERLAP", C, "Entries share compressed data (overlapping zip bomb)",
       "One stream counted many times defeats per-entry limits."),
    _R("PPX-ARC-PATH-TRAVERSAL", C, "Entry name contains '..' (zip slip)",
       "Extraction would write outside the package directory."),
    _R("PPX-ARC-ABSOLUTE-PATH", C, "Entry name is an absolute path",
       "Extraction would write to an arbitrary location."),
    _R("PPX-ARC-DRIVE-LETTER", C, "Entry name starts with a drive letter",
       "Windows-style absolute path; same risk as an absolute path."),
    _R("PPX-ARC-BACKSLASH", H, "Entry name contains a backslash",
       "Tools disagree on whether '\\' separates paths; a classic traversal vector."),
    _R("PPX-ARC-BAD-NAME", H, "Entry name is empty, too long, too deep or has control characters",
       "Such names confuse file systems, terminals and reviewers."),
    _R("PPX-ARC-DUPLICATE", H, "Duplicate entry name (exact, case-folded or Unicode-equivalent)",
       "Different tools would extract different files for the same name."),
    _R("PPX-ARC-SYMLINK", C, "Entry is a symbolic link",
       "A link can point outside the package and redirect later reads or writes."),
    _R("PPX-ARC-SPECIAL-FILE", C, "Entry is a device, FIFO, socket or other special file",
       "Special files have no place in a plugin and can hang or escape extraction."),
    _R("PPX-ARC-NATIVE-CODE", C, "Native code (.so/.pyd/.dll/.exe or ELF/PE/Mach-O content)",
       "Native code cannot be reviewed or scanned and bypasses Python-level checks."),
    _R("PPX-ARC-BYTECODE", C, "Compiled Python bytecode (.pyc or bytecode content)",
       "Bytecode can differ from the shipped source and cannot be scanned."),
    _R("PPX-ARC-NESTED-ARCHIVE", C,
       "An archive inside the package (zip, gzip, bzip2, xz, 7z, rar, tar), by content",
       "Nothing inside it is scanned, and zipimport loads code from a zip put on __path__."),
    _R("PPX-ARC-ENCRYPTED", H, "Encrypted entry", "Encrypted content cannot be scanned."),
    _R("PPX-ARC-COMPRESSION", H, "Compression method other than stored/deflate",
       "Keeps the decompression attack surface small."),
    _R("PPX-ARC-NO-MANIFEST", H, "plugin.json missing at the archive root",
       "Every package must describe itself."),
    _R("PPX-ARC-CORRUPT", H, "An entry's data does not match its header (CRC, size, name)",
       "A lying header is either damage or an attempt to confuse tools."),
    # Manifest (SPEC §2)
    _R("PPX-MAN-JSON", H, "plugin.json is not valid UTF-8 JSON (or too deeply nested)",
       "The manifest must parse identically everywhere."),
    _R("PPX-MAN-TOO-LARGE", H, "plugin.json is larger than 256 KB", "Bounds parsing cost."),
    _R("PPX-MAN-DUPLICATE-KEY", H, "A JSON object repeats a key",
       "Parsers disagree on which value wins: a smuggling vector."),
    _R("PPX-MAN-REQUIRED", H, "A required field is missing",
       "id, name, version and type are required."),
    _R("PPX-MAN-UNKNOWN-FIELD", H, "Unknown field", "Unknown fields are errors, not ignored."),
    _R("PPX-MAN-WRONG-TYPE", H, "A field has the wrong JSON type",
       "Types are strict: \"50\" is not a number, true is not an integer."),
    _R("PPX-MAN-LENGTH", H, "A string or list is too short or too long",
       "name 3-100, description ≤ 2000, tags ≤ 20, hooks ≤ 50, ..."),
    _R("PPX-MAN-RANGE", H, "A number is out of range",
       "priority 0-100, memory_mb ≤ 1024, timeout_ms ≤ 30000, cpu_seconds ≤ 300."),
    _R("PPX-MAN-ENUM", H, "A value is not one of the allowed values", "Fixed vocabularies."),
    _R("PPX-MAN-ID", H, "id is not 'publisher.name' with valid parts",
       "Ids are permanent, URL-safe and namespaced by publisher."),
    _R("PPX-MAN-NAME", H, "name has surrounding spaces or control characters",
       "Display names must not spoof other listings."),
    _R("PPX-MAN-VERSION", H, "version is not semantic (MAJOR.MINOR.PATCH[-prerelease])",
       "Versions are ordered by semver for updates and compatibility."),
    _R("PPX-MAN-TYPE", H, "type is not processor, connector, analyzer or utility",
       "The type decides where the plugin appears and which hooks make sense."),
    _R("PPX-MAN-CATEGORY", H, "category is not in the fixed list", "Marketplace navigation."),
    _R("PPX-MAN-TAG", H, "A tag is malformed or repeated", "Tags are search facets."),
    _R("PPX-MAN-URL", H, "A URL is not an absolute http(s) URL", "Shown as a link to users."),
    _R("PPX-MAN-EMAIL", H, "author.email is not an email address", "Shown to users."),
    _R("PPX-MAN-ENTRY", H, "entry is not an importable module path", "The worker imports it."),
    _R("PPX-MAN-HOOK-NAME", H, "A hook name is not 'scope:event'", "Hook names are a contract."),
    _R("PPX-MAN-HANDLER", H, "A hook handler is not a Python identifier",
       "Handlers are functions."),
    _R("PPX-MAN-HOOK-DUPLICATE", H, "The same hook and handler are declared twice",
       "Would run the handler twice per event."),
    _R("PPX-MAN-PERMISSION", H, "Unknown permission", "Only the 8 permissions exist."),
    _R("PPX-MAN-PERMISSION-DUPLICATE", H, "A permission is listed twice",
       "The permission list is shown to admins for consent; it must be exact."),
    _R("PPX-MAN-NETWORK-HOST", H, "A network.allow entry is not a DNS host name or *.wildcard",
       "IP literals, ports, schemes and over-broad wildcards ('*.com') are refused."),
    _R("PPX-MAN-NETWORK-WITHOUT-HTTP", H, "network.allow lists hosts without the http permission",
       "Contradictory declarations mislead the admin granting permissions."),
    _R("PPX-MAN-CONFIG-SCHEMA", H, "config_schema is not a valid JSON Schema 2020-12 object schema",
       "Configuration is validated against it; only local $ref is allowed."),
    _R("PPX-MAN-CONFIG-SCHEMA-REF-CYCLE", H,
       "config_schema has a $ref cycle that never steps into the value",
       "Validation would recurse without end in the API process (e.g. {\"$ref\": \"#\"})."),
    _R("PPX-MAN-CONFIG-SCHEMA-REGEX", H,
       "A config_schema pattern is not a linear-time (RE2) regular expression",
       "Patterns run in the API process with RE2; backreferences and look-around cannot, and "
       "a backtracking engine would let one pattern stall every request."),
    _R("PPX-MAN-SPECIFIER", H, "An engines/dependencies range is not a PEP 440 specifier",
       "Compatibility must be computable."),
    _R("PPX-MAN-DEPENDENCY", H, "A dependency is malformed or the plugin depends on itself",
       "Dependency graphs must be resolvable."),
    _R("PPX-MAN-INVALID", H, "A manifest field is invalid", "Fallback for other field rules."),
    # Structure
    _R("PPX-STRUCT-NO-ENTRY", H, "The entry module is missing", "Nothing could be loaded."),
    _R("PPX-STRUCT-NO-HANDLER", H, "A hook handler is not a top-level function of the entry module",
       "The worker resolves handlers by name in the entry module."),
    _R("PPX-STRUCT-HANDLER-ASYNC", H, "A hook handler is an async function",
       "Handlers are plain functions called synchronously in the worker."),
    _R("PPX-STRUCT-HANDLER-SIGNATURE", H, "A hook handler does not accept (event, ctx)",
       "Every handler is called with the event and its context."),
    _R("PPX-STRUCT-HOOK-MISMATCH", H, "A @plugin.hook registration is not declared in the manifest",
       "Declared hooks are what the admin approves; code must not register others."),
    _R("PPX-STRUCT-SHADOW", H,
       "A top-level module shadows the stdlib, the SDK, a start-up hook or a sandbox library",
       "Shadowing json, proofpix_sdk, sitecustomize or PIL changes what other code imports; "
       "the names are runtime/limits.RESERVED_TOP_LEVEL."),
    # Authoring: packages that are valid but cannot work (scanning/checks/authoring.py)
    _R("PPX-HOOK-PERMISSION", M,
       "A hook is bound without the permission the bus requires to deliver it",
       "file:uploaded and file:process reach only plugins holding 'files'; without it every "
       "call answers 'denied'. A warning for now so published packages are not rejected "
       "retroactively."),
    _R("PPX-CONFIG-UNSATISFIABLE", H, "A config_schema property or required key no value can "
       "satisfy (empty enum, minimum > maximum, wrong-typed const, false schema)",
       "The plugin could never be configured, so it could never load."),
    _R("PPX-CONFIG-DEFAULT-INVALID", H, "A config_schema default is refused by its own schema",
       "Defaults are applied before validation: the default config would be rejected."),
    _R("PPX-CONFIG-REQUIRED-NO-DEFAULT", L, "A required config key has no default",
       "The plugin installs as needs_configuration until an admin sets the key; fine when "
       "intended (a URL, a secret), a surprise otherwise."),
    # Compatibility
    _R("PPX-COMPAT-PROOFPIX", H, "engines.proofpix excludes this platform version",
       "The plugin says it does not work here."),
    _R("PPX-COMPAT-PYTHON", H, "engines.python excludes the worker's Python version",
       "The plugin says it does not work on this interpreter."),
    _R("PPX-DEP-MISSING", H, "A required plugin is not installed", "Install it first."),
    _R("PPX-DEP-VERSION", H, "An installed dependency's version is outside the range",
       "Update the dependency first."),
    # Sources
    _R("PPX-SRC-SYNTAX", H, "A Python file cannot be parsed",
       "Code that cannot be parsed cannot be analysed."),
    _R("PPX-SRC-ENCODING", H, "A Python file is not UTF-8", "Sources are analysed as UTF-8 only."),
    _R("PPX-SRC-TOO-LARGE", H, "A Python file is larger than 1 MB", "Bounds analysis cost."),
    # Dynamic code
    _R("PPX-DYN-EVAL", H, "eval/exec/compile (or an interactive interpreter)",
       "Runs code the scanner never saw."),
    _R("PPX-DYN-IMPORT", H, "__import__ or importlib.import_module with a computed name",
       "Imports the scanner cannot see bypass module rules."),
    _R("PPX-DYN-LOADER", H, "Custom module loading (importlib.util/machinery, runpy, zipimport)",
       "Loads code from places the scanner never saw."),
    _R("PPX-DYN-DUNDER-ATTR", H, "getattr/setattr/delattr/hasattr with a dunder name",
       "The usual way to reach escape gadgets while hiding the attribute."),
    # Escape gadgets
    _R("PPX-ESC-SUBCLASSES", C, "__subclasses__ access",
       "Reaches every loaded class: escape gadget."),
    _R("PPX-ESC-GLOBALS", C, "__globals__ access", "Reaches a function's module globals."),
    _R("PPX-ESC-BUILTINS", C, "__builtins__ access or the builtins module",
       "Reaches or replaces the real builtins."),
    _R("PPX-ESC-CODE", C, "__code__/__closure__ access", "Reads or swaps function bytecode."),
    _R("PPX-ESC-MRO", H, "__mro__/__bases__/__base__ access",
       "Walks the class hierarchy, the first step of most escapes."),
    _R("PPX-ESC-FRAME", C,
       "Frame access (sys._getframe, inspect frames, f_globals/f_back, tracing)",
       "Frames expose the caller's (the SDK's) globals and locals."),
    _R("PPX-ESC-GC", C, "gc.get_referrers/get_referents/get_objects",
       "Finds arbitrary live objects, including host-side ones."),
    _R("PPX-ESC-SYS-MODULES", H, "sys.modules access",
       "Reaches already-imported modules without an import the scanner can see."),
    # Process, network, native, deserialization
    _R("PPX-MOD-SUBPROCESS", C, "subprocess/pty/asyncio subprocesses",
       "Plugins never start processes."),
    _R("PPX-MOD-OS-EXEC", C, "os.system/popen/exec*/spawn*/fork (or posix/nt)",
       "Plugins never start processes."),
    _R("PPX-MOD-SOCKET", C, "socket module or raw connections",
       "All network access goes through the host's http broker."),
    _R("PPX-MOD-NETWORK", H, "Protocol clients/servers (ftplib, smtplib, http.server, ...)",
       "All network access goes through the host's http broker."),
    _R("PPX-MOD-NATIVE", C, "ctypes/cffi", "Calls native code directly."),
    _R("PPX-MOD-MULTIPROCESSING", H, "multiprocessing / process pools", "Plugins never fork."),
    _R("PPX-MOD-DESERIALIZE", H, "pickle/marshal/shelve/dill/yaml unsafe loads",
       "Deserializing these formats executes code."),
    # Obfuscation
    _R("PPX-OBF-DECODE-EXEC", C, "Decoded data (base64/zlib/codecs/hex/chr) fed to exec/eval/"
       "compile/__import__", "The signature of a hidden payload."),
    _R("PPX-OBF-CHR-CHAIN", H, "A string built from many chr() calls or an int array",
       "Hides names and code from review."),
    _R("PPX-OBF-HIGH-ENTROPY", H, "Long encoded-looking literal (base64/hex/high entropy)",
       "Embedded blobs hide payloads; ship data as files under assets/."),
    _R("PPX-OBF-LONG-LITERAL", M, "Very long literal (over 20,000 characters)",
       "Hard to review; usually data that belongs in assets/."),
    _R("PPX-OBF-HOMOGLYPH", H, "Non-ASCII identifier",
       "Look-alike letters make code read differently from what runs."),
    _R("PPX-OBF-BIDI", H, "Bidirectional control character in source (Trojan Source)",
       "Reorders how code displays versus how it parses."),
    _R("PPX-OBF-ENCODING", H, "Source declares a non-UTF-8 coding",
       "Codecs such as utf-7 make source decode differently from how it reads."),
    # File access
    _R("PPX-FS-SENSITIVE-PATH", H, "Path into /proc, /etc, /sys, /dev, home or system directories",
       "Plugins only read their own package and their scratch directory."),
    _R("PPX-FS-ABSOLUTE-PATH", H, "File operation on an absolute path",
       "Plugins only read their own package and their scratch directory."),
    _R("PPX-FS-PARENT-PATH", H, "File operation on a path with '..'",
       "Climbs out of the plugin's tree."),
    _R("PPX-FS-HOME", H, "Home directory access (~, expanduser, Path.home, $HOME)",
       "Home directories hold credentials."),
    # Permissions
    _R("PPX-PERM-IMPORT", H, "Imports a library whose capability needs an undeclared permission",
       "Code must match what the admin is asked to grant (see docs/scanner-rules.md)."),
    _R("PPX-PERM-UNDECLARED", H, "Uses ctx.<capability> without declaring its permission",
       "Would raise PermissionDenied at runtime; the manifest must say what the code does."),
    _R("PPX-PERM-UNUSED", L, "Declares a permission the code never uses",
       "Least privilege: ask only for what you need."),
    _R("PPX-PERM-NO-HOSTS", M, "Requests http but network.allow is empty",
       "The broker refuses every host not listed."),
    _R("PPX-PERM-HOST-NOT-ALLOWED", M, "A URL in the code is outside network.allow",
       "The broker would refuse the request."),
    # Secrets
    _R("PPX-SECRET-AWS", H, "AWS access key", "Credentials must come from x-secret config."),
    _R("PPX-SECRET-GITHUB", H, "GitHub token", "Credentials must come from x-secret config."),
    _R("PPX-SECRET-SLACK", H, "Slack token or webhook URL",
       "Credentials must come from x-secret config."),
    _R("PPX-SECRET-STRIPE", H, "Stripe secret/restricted key",
       "Credentials must come from x-secret config."),
    _R("PPX-SECRET-PRIVATE-KEY", C, "Private key block", "A shipped private key is compromised."),
    _R("PPX-SECRET-JWT", H, "JSON Web Token", "Tokens are credentials."),
    _R("PPX-SECRET-API-KEY", H, "Known API key format (Google, OpenAI, SendGrid, ...)",
       "Credentials must come from x-secret config."),
    _R("PPX-SECRET-URL-CREDENTIALS", H, "URL with embedded user:password",
       "Credentials must come from x-secret config."),
    _R("PPX-SECRET-ASSIGNMENT", H, "Literal assigned to a password/token/secret/key name",
       "Credentials must come from x-secret config."),
    _R("PPX-SECRET-ENTROPY", M, "High-entropy string literal that may be a credential",
       "Review: random-looking literals are often keys."),
    # bandit
    _R("PPX-BANDIT", M, "bandit finding (rule id PPX-BANDIT-<bandit test id>)",
       "bandit's checks run as a library on every Python file; severity maps from bandit's "
       "severity and confidence."),
    _R("PPX-BANDIT-ERROR", H, "bandit could not analyse a file", "Unanalysable code is rejected."),
    _R("PPX-SCAN-ERROR", H, "A check failed on this package",
       "The scanner fails closed: a package it cannot finish checking is rejected."),
)

RULES: Final[dict[str, Rule]] = {r.id: r for r in _ALL}


def rule(rule_id: str) -> Rule:
    """The registered rule; ``PPX-BANDIT-B123`` resolves to a rule derived from ``PPX-BANDIT``."""
    found = RULES.get(rule_id)
    if found is not None:
        return found
    if rule_id.startswith("PPX-BANDIT-"):
        base = RULES["PPX-BANDIT"]
        return Rule(rule_id, base.severity, f"bandit {rule_id.removeprefix('PPX-BANDIT-')}",
                    base.why)
    raise KeyError(rule_id)


def render_markdown() -> str:
    """docs/scanner-rules.md, generated from the registry."""
    lines = [
        "# Scanner rules",
        "",
        "The table is generated by `proofpix-plugins plugin rules > docs/scanner-rules.md` "
        "(then the notes below are appended); a test keeps it in sync with the code.",
        "",
        "Policy: any **critical** or **high** finding from an enforced check rejects the package; "
        "medium, low and info findings are warnings. Rule ids are stable.",
        "",
        "| rule id | severity | what | why |",
        "|---|---|---|---|",
    ]
    for r in _ALL:
        what = r.title.replace("|", "\\|")
        why = r.why.replace("|", "\\|")
        lines.append(f"| `{r.id}` | {r.severity.value} | {what} | {why} |")
    return "\n".join(lines) + "\n"

