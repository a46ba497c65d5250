"""AST rules: dynamic code, escape gadgets, process/network/native modules, file access."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from proofpix_plugins.scanning.check import at
from proofpix_plugins.scanning.context import ScanContext, SourceFile
from proofpix_plugins.scanning.facts import const_text
from proofpix_plugins.scanning.findings import Finding

# --- module and name tables -------------------------------------------------------------------

#: Importing these (or a submodule) is a finding by itself.
MODULE_RULES: Final[dict[str, str]] = {
    "socket": "PPX-MOD-SOCKET", "_socket": "PPX-MOD-SOCKET",
    "socketserver": "PPX-MOD-NETWORK", "http.server": "PPX-MOD-NETWORK",
    "ftplib": "PPX-MOD-NETWORK", "smtplib": "PPX-MOD-NETWORK", "telnetlib": "PPX-MOD-NETWORK",
    "poplib": "PPX-MOD-NETWORK", "imaplib": "PPX-MOD-NETWORK", "nntplib": "PPX-MOD-NETWORK",
    "xmlrpc": "PPX-MOD-NETWORK", "asyncore": "PPX-MOD-NETWORK", "asynchat": "PPX-MOD-NETWORK",
    "smtpd": "PPX-MOD-NETWORK", "paramiko": "PPX-MOD-NETWORK",
    "subprocess": "PPX-MOD-SUBPROCESS", "_posixsubprocess": "PPX-MOD-SUBPROCESS",
    "pty": "PPX-MOD-SUBPROCESS", "asyncio.subprocess": "PPX-MOD-SUBPROCESS",
    "sh": "PPX-MOD-SUBPROCESS", "pexpect": "PPX-MOD-SUBPROCESS",
    "posix": "PPX-MOD-OS-EXEC", "nt": "PPX-MOD-OS-EXEC",
    "ctypes": "PPX-MOD-NATIVE", "_ctypes": "PPX-MOD-NATIVE", "cffi": "PPX-MOD-NATIVE",
    "multiprocessing": "PPX-MOD-MULTIPROCESSING", "_multiprocessing": "PPX-MOD-MULTIPROCESSING",
    "concurrent.futures.process": "PPX-MOD-MULTIPROCESSING",
    "builtins": "PPX-ESC-BUILTINS", "__builtin__": "PPX-ESC-BUILTINS",
    "importlib.util": "PPX-DYN-LOADER", "importlib.machinery": "PPX-DYN-LOADER",
    "importlib.abc": "PPX-DYN-LOADER", "runpy": "PPX-DYN-LOADER", "zipimport": "PPX-DYN-LOADER",
    "imp": "PPX-DYN-LOADER",
    "code": "PPX-DYN-EVAL", "codeop": "PPX-DYN-EVAL",
}

#: Dotted names (attribute chains, from-imports) that are findings wherever they appear.
NAME_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), rule_id) for pattern, rule_id in (
        (r"(os|posix|nt)\.(system|popen|exec\w*|spawn\w*|fork|forkpty|vfork|posix_spawnp?|"
         r"startfile|fexecve)", "PPX-MOD-OS-EXEC"),
        (r"asyncio\.(create_subprocess_exec|create_subprocess_shell)", "PPX-MOD-SUBPROCESS"),
        (r"asyncio\.(open_connection|start_server|open_unix_connection|start_unix_server)",
         "PPX-MOD-SOCKET"),
        (r"(pickle|_pickle|cPickle|dill|cloudpickle)\.(load|loads|Unpickler)",
         "PPX-MOD-DESERIALIZE"),
        (r"marshal\.(load|loads)", "PPX-MOD-DESERIALIZE"),
        (r"shelve\.(open|Shelf|DbfilenameShelf)", "PPX-MOD-DESERIALIZE"),
        (r"jsonpickle\.decode|yaml\.(unsafe_load|load|full_load|UnsafeLoader)",
         "PPX-MOD-DESERIALIZE"),
        (r"concurrent\.futures\.ProcessPoolExecutor", "PPX-MOD-MULTIPROCESSING"),
        (r"sys\.(_getframe|_current_frames|settrace|setprofile|_getframemodulename)",
         "PPX-ESC-FRAME"),
        (r"threading\.(settrace|setprofile|settrace_all_threads)", "PPX-ESC-FRAME"),
        (r"inspect\.(currentframe|stack|trace|getouterframes|getinnerframes|getframeinfo)",
         "PPX-ESC-FRAME"),
        (r"gc\.(get_referrers|get_referents|get_objects)", "PPX-ESC-GC"),
        (r"sys\.modules", "PPX-ESC-SYS-MODULES"),
        (r"importlib\.(reload|__import__)", "PPX-DYN-LOADER"),
        (r"builtins\.(eval|exec|compile)", "PPX-DYN-EVAL"),
        (r"types\.(CodeType|FunctionType)", "PPX-ESC-CODE"),
    )
)

#: Attribute names that are escape gadgets whatever object they hang off.
ATTRIBUTE_RULES: Final[dict[str, str]] = {
    "__subclasses__": "PPX-ESC-SUBCLASSES",
    "__globals__": "PPX-ESC-GLOBALS", "func_globals": "PPX-ESC-GLOBALS",
    "__builtins__": "PPX-ESC-BUILTINS",
    "__code__": "PPX-ESC-CODE", "__closure__": "PPX-ESC-CODE", "func_code": "PPX-ESC-CODE",
    "__mro__": "PPX-ESC-MRO", "__bases__": "PPX-ESC-MRO", "__base__": "PPX-ESC-MRO",
    "f_back": "PPX-ESC-FRAME", "f_globals": "PPX-ESC-FRAME", "f_locals": "PPX-ESC-FRAME",
    "f_builtins": "PPX-ESC-FRAME", "f_code": "PPX-ESC-FRAME", "gi_frame": "PPX-ESC-FRAME",
    "cr_frame": "PPX-ESC-FRAME", "ag_frame": "PPX-ESC-FRAME", "tb_frame": "PPX-ESC-FRAME",
    "gi_code": "PPX-ESC-CODE", "cr_code": "PPX-ESC-CODE",
}
#: Gadget names that, found inside any string literal, mean the same as the attribute.
STRING_GADGETS: Final = ("__subclasses__", "__globals__", "__builtins__", "__code__", "__mro__",
                         "__bases__", "f_globals", "f_back")

DYNAMIC_CALLS: Final[dict[str, str]] = {
    "eval": "PPX-DYN-EVAL", "exec": "PPX-DYN-EVAL", "compile": "PPX-DYN-EVAL",
    "execfile": "PPX-DYN-EVAL", "breakpoint": "PPX-DYN-EVAL",
    "__import__": "PPX-DYN-IMPORT", "builtins.__import__": "PPX-DYN-IMPORT",
}
_ATTR_FUNCS: Final = frozenset({"getattr", "setattr", "delattr", "hasattr", "builtins.getattr",
                                "object.__getattribute__", "operator.attrgetter"})


def module_rule(module: str) -> str | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        found = MODULE_RULES.get(".".join(parts[:i]))
        if found:
            return found
    return None


@functools.lru_cache(maxsize=8192)
def name_rule(name: str) -> str | None:
    # Cached: a module refers to the same few names (ctx.storage.get, ...) over and over.
    for pattern, rule_id in NAME_RULES:
        if pattern.fullmatch(name):
            return rule_id
    return None


def _const_str(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


# --- checks -----------------------------------------------------------------------------------


def _dynamic(source: SourceFile) -> list[Finding]:
    facts = source.facts
    out = []
    for call in facts.calls:
        name = call.name
        if name is None:
            continue
        rule_id = DYNAMIC_CALLS.get(name)
        if rule_id:
            out.append(at(rule_id, source, call.node, f"call to {name}()"))
        elif name in ("importlib.import_module", "importlib.__import__"):
            if not call.node.args or _const_str(call.node.args[0]) is None:
                out.append(at("PPX-DYN-IMPORT", source, call.node,
                              f"{name}() with a computed module name"))
        elif name in _ATTR_FUNCS and len(call.node.args) >= 2:
            attr = _const_str(call.node.args[1])
            if attr is not None and attr.startswith("__") and attr.endswith("__"):
                out.append(at("PPX-DYN-DUNDER-ATTR", source, call.node,
                              f"{name}() with dunder name {attr!r}"))
    return out


def _escapes(source: SourceFile) -> list[Finding]:
    facts = source.facts
    out = []
    for attr in facts.attributes:
        rule_id = ATTRIBUTE_RULES.get(attr.attr)
        if rule_id:
            out.append(at(rule_id, source, attr, f"access to .{attr.attr}"))
    for name in facts.names:
        if name.id == "__builtins__":
            out.append(at("PPX-ESC-BUILTINS", source, name, "access to __builtins__"))
    for const in facts.strings:
        text = const_text(const)
        for gadget in STRING_GADGETS:
            if gadget in text:
                rule_id = ATTRIBUTE_RULES[gadget]
                out.append(at(rule_id, source, const, f"string literal names {gadget}"))
                break
    return out


def _modules(source: SourceFile) -> list[Finding]:
    facts = source.facts
    out = []
    for module, node in facts.imports:
        rule_id = module_rule(module)
        if rule_id:
            out.append(at(rule_id, source, node, f"imports {module}"))
    for name, node in facts.refs:
        rule_id = name_rule(name)
        if rule_id:
            out.append(at(rule_id, source, node, f"uses {name}"))
    return out


# File access ----------------------------------------------------------------------------------

_FILE_FUNCS: Final = re.compile(
    r"open|io\.open|codecs\.open|os\.(open|listdir|scandir|walk|stat|lstat|remove|unlink|rmdir|"
    r"removedirs|rename|renames|replace|mkdir|makedirs|chmod|chown|lchown|symlink|link|readlink|"
    r"chdir|chroot|access|utime|truncate|mkfifo|mknod|statvfs|fwalk)|os\.path\.\w+|"
    r"pathlib\.(Path|PurePath|PosixPath|PurePosixPath|WindowsPath)|shutil\.\w+|glob\.i?glob|"
    r"tarfile\.open|zipfile\.ZipFile|sqlite3\.connect|fileinput\.input|linecache\.getlines?"
)
SENSITIVE_PREFIXES: Final = ("/proc", "/etc", "/sys", "/dev", "/root", "/home", "/run",
                             "/var/run", "/boot", "/usr", "/bin", "/sbin", "/lib", "/opt",
                             "/var/lib", "/Users")
_ALWAYS_SENSITIVE: Final = ("/proc/", "/etc/", "/sys/", "/dev/", "/root/", "/home/", "~/",
                            "/var/run/", "/run/")
_HOME_NAMES: Final = frozenset({"os.path.expanduser", "pathlib.Path.home", "posixpath.expanduser",
                                "pathlib.Path.expanduser"})


def path_rule(path: str) -> str | None:
    """Rule for a literal path a plugin opens, or None if it stays inside the plugin tree."""
    if path.startswith("~"):
        return "PPX-FS-HOME"
    if path.startswith("/") or re.match(r"[A-Za-z]:[\\/]", path):
        for prefix in SENSITIVE_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return "PPX-FS-SENSITIVE-PATH"
        return "PPX-FS-ABSOLUTE-PATH"
    if ".." in re.split(r"[\\/]", path):
        return "PPX-FS-PARENT-PATH"
    return None


def _file_access(source: SourceFile) -> list[Finding]:
    facts = source.facts
    out = []
    for call in facts.calls:
        name = call.name
        if name is None:
            # Path("x").expanduser() / Path.home() on an unresolved receiver still reads $HOME.
            func = call.node.func
            if isinstance(func, ast.Attribute) and func.attr in ("expanduser", "home"):
                out.append(at("PPX-FS-HOME", source, call.node, f".{func.attr}()"))
            continue
        if name in _HOME_NAMES or name.endswith((".expanduser", ".home")):
            out.append(at("PPX-FS-HOME", source, call.node, f"{name}()"))
        elif name in ("os.getenv", "os.environ.get") and _const_str(
            call.node.args[0] if call.node.args else None
        ) in ("HOME", "USERPROFILE"):
            out.append(at("PPX-FS-HOME", source, call.node, "reads $HOME"))
        elif _FILE_FUNCS.fullmatch(name):
            for arg in call.node.args[:2]:
                path = _const_str(arg)
                rule_id = path_rule(path) if path is not None else None
                if rule_id:
                    out.append(at(rule_id, source, call.node, f"{name}({path!r})"))
                    break
    for const in facts.strings:
        if isinstance(const.value, str) and const.value.startswith(_ALWAYS_SENSITIVE):
            rule_id = "PPX-FS-HOME" if const.value.startswith("~") else "PPX-FS-SENSITIVE-PATH"
            out.append(at(rule_id, source, const, f"path literal {const.value[:80]!r}"))
    for sub in facts.subscripts:
        if (
            (facts.dotted(sub.value) or "") == "os.environ"
            and _const_str(sub.slice) in ("HOME", "USERPROFILE")
        ):
            out.append(at("PPX-FS-HOME", source, sub, "reads $HOME"))
    return out


# --- Check classes ----------------------------------------------------------------------------


def _each(ctx: ScanContext, fn: Callable[[SourceFile], list[Finding]]) -> list[Finding]:
    out: list[Finding] = []
    for source in ctx.parsed_sources:
        out += fn(source)
    return out


@dataclass
class DynamicCodeCheck:
    id: str = "dynamic-code"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("No eval/exec/compile, no computed imports or custom loaders, no getattr "
                    "with dunder names.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        return _each(ctx, _dynamic)


@dataclass
class EscapeGadgetCheck:
    id: str = "escape-gadgets"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("No interpreter internals: __subclasses__, __globals__, __builtins__, "
                    "__code__, frames, gc referrers, sys.modules.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        return _each(ctx, _escapes)


@dataclass
class DangerousModuleCheck:
    id: str = "dangerous-modules"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("No processes, sockets, native calls, multiprocessing or unsafe "
                    "deserialization.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        return _each(ctx, _modules)


@dataclass
class FileAccessCheck:
    id: str = "file-access"
    enabled: bool = True
    enforced: bool = True
    required: bool = True
    message: str = ("File access stays inside the plugin's own tree: no absolute paths, /proc, "
                    "/etc, home directories or '..'.")

    def run(self, ctx: ScanContext) -> list[Finding]:
        return _each(ctx, _file_access)
