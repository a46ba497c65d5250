"""bandit, run as a library on the package's Python sources (in memory, never imported).

Several things keep it affordable. bandit's test set (stevedore plugin loading) is built once
per process. The tree our own checks parsed is handed to bandit instead of being parsed again. A
thin subclass of bandit's visitor builds bandit's per-node context only for nodes that a bandit
test (or bandit's own bookkeeping) looks at: the same tests see the same contexts, while the many
Name/Load/BinOp nodes no test inspects cost a traversal step or nothing. A lean tester runs each
test as bandit does but skips nosec bookkeeping and score aggregation, which we do not use. Two
tests get a cheap exact precondition in front (trojansource, the call blacklist). A test compares
the results with stock bandit's. Results are cached per (path, sha256 of the source), so
re-scanning an unchanged file is free.

All of this leans on bandit's internals, so it is proven on one bandit release only
(:data:`PROVEN_BANDIT_VERSION`, pinned in ``pyproject.toml``): importing this module with any
other installed version raises :class:`BanditVersionError`.

``# nosec`` comments are ignored: the plugin author does not get to silence the platform's scanner.

Longer than our ~400-line norm on purpose: every override of bandit's internals is proven at once
(the equivalence test, one pinned release), so they stay in the one module that proof covers.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any, Final

from proofpix_plugins.scanning.context import ScanContext, SourceFile, parse_source_file
from proofpix_plugins.scanning.findings import Finding, Severity
from proofpix_plugins.scanning.rules import rule

#: Tests about cryptographic *quality* (weak hashes/ciphers) are capped at medium: they concern
#: the plugin's results, not the platform's safety, and should not block e.g. an md5 checksum.
QUALITY_ONLY: Final = frozenset({"B303", "B304", "B305", "B324", "B311", "B413"})
CACHE_SIZE: Final = 4096
#: Below this much Python, handing files to worker processes costs more than it saves on a busy
#: 2-core machine (measured: 100 KB was 97-155 ms pooled vs 128 ms inline; 5 MB 5.2 s vs 6.7 s).
PARALLEL_MIN_BYTES: Final = 256 * 1024

#: The bandit release the equivalence test (tests/scanning/test_bandit_equivalence.py) proves
#: this driver on; ``pyproject.toml`` pins exactly this one.
PROVEN_BANDIT_VERSION: Final = "1.9.4"


class BanditVersionError(ImportError):
    """The installed bandit is not the release this driver was proven on."""


def require_proven_bandit(installed: str | None) -> None:
    """Refuse any bandit but the proven one (``installed`` is None when bandit is missing).

    The driver subclasses bandit's visitor and tester and reads private attributes; another
    release may change them without an error, only with findings silently lost (1.7.9, for
    one, matched the call blacklist by pattern).
    """
    if installed != PROVEN_BANDIT_VERSION:
        found = "is not installed" if installed is None else f"{installed} is installed"
        raise BanditVersionError(
            f"the scanner's bandit driver is proven on bandit {PROVEN_BANDIT_VERSION} only, but "
            f"bandit {found}; install bandit=={PROVEN_BANDIT_VERSION} (as pyproject.toml pins), "
            f"or re-prove the driver with tests/scanning/test_bandit_equivalence.py first"
        )


def _installed_bandit() -> str | None:
    try:
        return metadata.version("bandit")
    except metadata.PackageNotFoundError:
        return None


# Checked at import, before any scan, so a wrong bandit stops the server and the CLI at start-up
# instead of rejecting (or, worse, passing) packages later.
require_proven_bandit(_installed_bandit())

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: OrderedDict[tuple[str, bytes], tuple[Finding, ...]] = OrderedDict()


_NO_CONFIG: Final = object()
#: Calls bandit's blacklist test resolves to the module they import.
_IMPORT_CALLS: Final = frozenset({"importlib.import_module", "importlib.__import__"})

@dataclass(frozen=True)
class _Bandit:
    testset: Any
    visitor_class: Any
    tester_class: Any
    metrics: Any
    meta_ast: Any


@cache
def _bandit() -> _Bandit:
    """bandit's test set and lean visitor/tester classes, built once per process."""
    # bandit logs per-file problems at ERROR; we report them as findings instead.
    logging.getLogger("bandit").setLevel(logging.CRITICAL)
    # stevedore reports bandit's optional SARIF formatter (sarif_om, not installed) at ERROR
    # while loading plugins; we never use bandit's formatters.
    logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        # stevedore (under bandit) warns about its own deprecated arguments on import: not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import config, meta_ast, metrics, node_visitor, test_set, tester
        from bandit.core import context as b_context
        from bandit.core import utils as b_utils
        from bandit.core.utils import namespace_path_split

        testset = test_set.BanditTestSet(config.BanditConfig(), profile={})
    _gate_trojansource(testset)
    _gate_call_blacklist(testset)
    base = node_visitor.BanditNodeVisitor
    tested = frozenset(testset.tests)
    # Node types whose context bandit needs: tested ones and those with a visit_* method
    # (which maintain namespaces and imports, and run the Str/Bytes tests for Constant).
    visitors = {name[6:]: getattr(base, name) for name in dir(base) if name.startswith("visit_")}
    needs_context = tested | set(visitors)
    # Decided once per node class (by name, as bandit dispatches), not once per node.
    wanted: dict[type, bool] = {}
    linerange = b_utils.linerange
    # Leaves no test looks at (a third of a typical tree): their fields hold only strings or
    # other leaves, so they have nothing to visit, and bandit's tests read the parent links of
    # the node under test and its ancestors only, never of these.
    inert = frozenset(t for t in _leaf_types() if t.__name__ not in needs_context)

    class FrugalVisitor(base):  # type: ignore[misc,valid-type]
        def visit(self, node: ast.AST) -> None:
            name = node.__class__.__name__
            method = visitors.get(name)
            if method is not None:
                method(self, node)
            elif name in tested:
                self.tester.run_tests(self.context, name)

        def update_scores(self, scores: object) -> None:
            pass  # we report findings, not bandit's aggregate scores

        def pre_visit(self, node: ast.AST) -> bool:
            # bandit's context, key for key, without its two debug log calls per node.
            context: dict[str, Any] = {"imports": self.imports,
                                       "import_aliases": self.import_aliases}
            if hasattr(node, "lineno"):
                context["lineno"] = node.lineno
            if hasattr(node, "col_offset"):
                context["col_offset"] = node.col_offset
            if hasattr(node, "end_col_offset"):
                context["end_col_offset"] = node.end_col_offset
            context["node"] = node
            context["linerange"] = linerange(node)
            context["filename"] = self.fname
            context["file_data"] = self.fdata
            self.context = context
            self.depth += 1
            return True

        def post_visit(self, node: ast.AST) -> None:
            # bandit's version formats a debug message (hex(id(node))) for every node.
            self.depth -= 1
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                self.namespace = namespace_path_split(self.namespace)[0]  # type: ignore[has-type]

        def generic_visit(self, node: ast.AST) -> None:
            # bandit's driver: same order, same _bandit_parent/_bandit_sibling links, but nodes
            # no test looks at (Name, Load, BinOp, ...) skip the pre/visit/post calls entirely.
            for field in node._fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    last = len(value) - 1
                    for index, item in enumerate(value):
                        if type(item) not in inert and isinstance(item, ast.AST):
                            links = item.__dict__
                            links["_bandit_sibling"] = value[index + 1] if index < last else None
                            links["_bandit_parent"] = node
                            self._step(item)
                            # Done with this subtree: drop the links again, or every tree would
                            # become cyclic garbage only a full GC pass frees (scans pause the GC).
                            del links["_bandit_sibling"], links["_bandit_parent"]
                elif type(value) not in inert and isinstance(value, ast.AST):
                    links = value.__dict__
                    links["_bandit_sibling"] = None
                    links["_bandit_parent"] = node
                    self._step(value)
                    del links["_bandit_sibling"], links["_bandit_parent"]

        def _step(self, node: ast.AST) -> None:
            kind = type(node)
            needed = wanted.get(kind)
            if needed is None:
                needed = wanted[kind] = kind.__name__ in needs_context
            if not needed:
                self.generic_visit(node)
            elif kind is ast.Constant and not isinstance(node.value, str | bytes):  # type: ignore[attr-defined]
                # visit_Constant tests str and bytes only; a number's context would be built
                # and dropped unread (a Constant has no children).
                return
            elif self.pre_visit(node):
                self.visit(node)
                self.generic_visit(node)
                self.post_visit(node)

    # Per node type, each test with what bandit passes it (its config, if it takes one).
    plans = {
        checktype: tuple((test, getattr(test, "_config", _NO_CONFIG)) for test in tests)
        for checktype, tests in testset.tests.items()
    }

    class LeanTester(tester.BanditTester):  # type: ignore[misc]
        """BanditTester.run_tests without nosec bookkeeping and scores (we ignore both).

        bandit hands every test a fresh copy of the node's context; no test writes to it
        (checked in bandit's sources, and the equivalence test would see it), so the tests of
        one node share one.
        """

        errors = 0

        def run_tests(self, raw_context: dict[str, Any], checktype: str) -> None:
            plan = plans.get(checktype)
            if not plan:
                return
            context = b_context.Context(raw_context)
            for test, config in plan:
                try:
                    result = test(context) if config is _NO_CONFIG else test(context, config)
                except Exception:  # bandit skips a crashing test too; we count it
                    self.errors += 1
                    continue
                if result is None:
                    continue
                result.fname = raw_context["filename"]
                result.fdata = raw_context["file_data"]
                if result.lineno is None:
                    result.lineno = raw_context["lineno"]
                if result.linerange == []:
                    result.linerange = raw_context["linerange"]
                if result.col_offset == -1:
                    result.col_offset = raw_context["col_offset"]
                result.end_col_offset = raw_context.get("end_col_offset", 0)
                result.test = test.__name__
                if result.test_id == "":
                    result.test_id = test._test_id
                self.results.append(result)

    return _Bandit(testset, FrugalVisitor, LeanTester, metrics, meta_ast)


def _leaf_types() -> set[type[ast.AST]]:
    """Node types whose fields hold only identifiers or other such leaves."""
    out: set[type[ast.AST]] = {ast.Name, ast.alias, ast.Pass, ast.Break, ast.Continue}
    for group in (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop):
        out.update(group.__subclasses__())
    return out


def _gate_trojansource(testset: Any) -> None:
    """Run B613 only on files holding a bidi control character: it can report nothing else.

    The test scans every line for each of ten characters (about 8 of bandit's 68 ms on the
    benchmark's small plugin); ten substring searches over the decoded file rule it out first.
    The file is decoded as the test decodes it, so a file it would fail on fails the same way.
    """
    from tokenize import detect_encoding

    from bandit.plugins.trojansource import BIDI_CHARACTERS

    tests = testset.tests.get("File", [])
    for index, test in enumerate(tests):
        if test.__name__ != "trojansource":
            continue

        @functools.wraps(test)
        def gated(context: Any, _test: Any = test) -> Any:
            data = context.file_data
            data.seek(0)
            encoding, _ = detect_encoding(data.readline)
            data.seek(0)
            text = data.read().decode(encoding)
            if not any(char in text for char in BIDI_CHARACTERS):
                return None
            return _test(context)

        tests[index] = gated


def _gate_call_blacklist(testset: Any) -> None:
    """On Call nodes, run bandit's blacklist test only for a call it can report.

    For a call, the test compares one name (the call's qualified name, or the module named by
    ``__import__``/``importlib.import_module``) with every blacklisted qualname in turn, about a
    hundred comparisons per call. A set lookup of the qualified name rules out the ordinary call
    first; ``__import__`` and the importlib forms always go to the test itself.

    The lookup is exact only while bandit compares names exactly. Should a qualname be a pattern
    (bandit before 1.7.10 matched ``telnetlib.*`` and ``ftplib.*`` with ``fnmatch``), a set
    lookup would silently drop those findings, so the test is then left to run on every call.
    """
    tests = testset.tests.get("Call", [])
    for index, test in enumerate(tests):
        if test.__name__ != "blacklist":
            continue
        names = frozenset(qn for check in test._config.get("Call", ()) for qn in check["qualnames"])
        if any(char in name for name in names for char in "*?["):
            continue

        @functools.wraps(test)
        def gated(context: Any, config: Any, _test: Any = test, _names: Any = names) -> Any:
            func = context.node.func
            if not (isinstance(func, ast.Name) and func.id == "__import__"):
                name = context.call_function_name_qual
                if name not in _names and name not in _IMPORT_CALLS:
                    return None
            return _test(context, config)

        tests[index] = gated


def warm_up() -> None:
    """Build bandit's test set now (e.g. at server start) instead of on the first scan."""
    with _lock:
        _bandit()


def clear_cache() -> None:
    """Forget cached per-file results (benchmarks measure cold scans with this)."""
    with _lock:
        _cache.clear()


def severity_for(test_id: str, severity: str, confidence: str) -> Severity:
    if severity == "HIGH":
        mapped = Severity.high if confidence in ("HIGH", "MEDIUM") else Severity.medium
    elif severity == "MEDIUM":
        mapped = Severity.medium
    else:
        mapped = Severity.low
    if test_id in QUALITY_ONLY and mapped.rank > Severity.medium.rank:
        return Severity.medium
    return mapped


def _analyse(source: SourceFile) -> list[Finding]:
    with _lock:
        b = _bandit()
    assert source.tree is not None
    stats = b.metrics.Metrics()
    stats.begin(source.path)
    fdata = io.BytesIO(source.raw)
    visitor = b.visitor_class(source.path, fdata, b.meta_ast.BanditMetaAst(), b.testset, False,
                              {}, stats)
    visitor.tester = b.tester_class(b.testset, False, {}, stats)
    try:
        # What BanditNodeVisitor.process does, minus parsing the source a second time.
        visitor.generic_visit(source.tree)
        visitor.context = {"file_data": fdata, "filename": source.path, "lineno": 0,
                           "linerange": [0, 1], "col_offset": 0}
        visitor.tester.run_tests(visitor.context, "File")
    except (RecursionError, MemoryError, SyntaxError, ValueError) as exc:
        return [rule("PPX-BANDIT-ERROR").finding(
            f"bandit could not analyse the file: {type(exc).__name__}", file=source.path)]
    if visitor.tester.errors:
        # A bandit test that crashes on this file may hide a finding: fail closed.
        return [rule("PPX-BANDIT-ERROR").finding(
            f"{visitor.tester.errors} bandit test(s) failed on this file", file=source.path)]
    out = []
    for issue in visitor.tester.results:
        test_id = str(issue.test_id)
        line = int(issue.lineno) if issue.lineno else None
        col = getattr(issue, "col_offset", None)
        out.append(rule(f"PPX-BANDIT-{test_id}").finding(
            f"bandit {test_id} ({issue.test}): {issue.text}",
            file=source.path, line=line, column=None if col is None else int(col) + 1,
            snippet=source.snippet(line),
            severity=severity_for(test_id, str(issue.severity), str(issue.confidence)),
        ))
    return out


def _cache_key(source: SourceFile) -> tuple[str, bytes]:
    return (source.path, hashlib.sha256(source.raw).digest())


def _cached(key: tuple[str, bytes]) -> list[Finding] | None:
    with _lock:
        found = _cache.get(key)
        if found is None:
            return None
        _cache.move_to_end(key)
        return list(found)


def _remember(key: tuple[str, bytes], found: list[Finding]) -> None:
    with _lock:
        _cache[key] = tuple(found)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def run_bandit(source: SourceFile) -> list[Finding]:
    """bandit's findings for one parsed source file."""
    key = _cache_key(source)
    found = _cached(key)
    if found is None:
        found = _analyse(source)
        _remember(key, found)
    return found


# --- optional parallelism ---------------------------------------------------------------------

_pools: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            # spawn: a clean interpreter that imports only the scanner, never a fork of a server
            # that may hold sockets, threads or sandbox state.
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(os.getpid(),))
            _pools[workers] = pool
        return pool


def _init_worker(parent_pid: int) -> None:
    """Pool-process start: die with the server, leave Ctrl-C to it, build bandit's test set."""
    # Ctrl-C signals the whole foreground process group, and the server stops its pool itself:
    # a KeyboardInterrupt here would only print a traceback per worker. (A Ctrl-C in the second
    # a worker takes to start, before this runs, can still interrupt that worker's start-up.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    warm_up()


def _exit_with_parent(parent_pid: int) -> None:
    """Exit as soon as the server process is gone, even when it was SIGKILLed.

    PR_SET_PDEATHSIG would follow the *thread* that spawned the worker (a short-lived
    ``to_thread`` worker may), so the process is watched instead: a pidfd becomes readable when
    it exits (Linux 5.3+), else the parent pid is polled. With every worker gone, the
    multiprocessing resource tracker sees its pipe close and exits as well.
    """
    try:
        pidfd: int | None = os.pidfd_open(parent_pid)
    except (AttributeError, OSError):
        pidfd = None
    if os.getppid() != parent_pid:
        os._exit(1)  # the server died before we got here

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def start_pool(workers: int) -> None:
    """Spawn the worker processes and build bandit's test set in each, ahead of the first scan."""
    pool = _pool(workers)
    for future in [pool.submit(analyse_in_worker, []) for _ in range(workers)]:
        future.result()


def shutdown_pools() -> None:
    """Stop bandit worker processes (tests, server shutdown)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def analyse_in_worker(items: list[tuple[str, bytes]]) -> list[list[Finding]]:
    """Worker-process entry: parse (never import) and run bandit on each (path, source bytes)."""
    out = []
    for path, raw in items:
        source = parse_source_file(path, raw)
        out.append(_analyse(source) if source.tree is not None else [])
    return out


def _chunks(sources: list[SourceFile], n: int) -> list[list[SourceFile]]:
    # Largest first onto the lightest chunk: balanced enough for a handful of workers.
    chunks: list[list[SourceFile]] = [[] for _ in range(n)]
    sizes = [0] * n
    for source in sorted(sources, key=lambda s: -len(s.raw)):
        i = sizes.index(min(sizes))
        chunks[i].append(source)
        sizes[i] += len(source.raw)
    return [c for c in chunks if c]


@dataclass
class _Pending:
    chunks: list[list[SourceFile]]
    futures: list[Future[list[list[Finding]]]]


@dataclass
class BanditCheck:
    id: str = "bandit"
    enabled: bool = True
    enforced: bool = True
    required: bool = False
    message: str = "bandit's security checks find nothing of high severity."
    #: With 1 or more, bandit runs in that many spawned worker processes, started before the
    #: other checks so it overlaps them (results are identical; see the equivalence test).
    #: 0 (default) runs inline: right for the CLI and for tests, no extra processes.
    workers: int = 0
    #: Below this much uncached Python, pooling costs more than it saves (measured: the
    #: benchmark's 100 KB plugin under load). A server with idle cores may lower it.
    min_parallel_bytes: int = PARALLEL_MIN_BYTES

    def start(self, ctx: ScanContext) -> None:
        """Hand uncached sources to worker processes, if configured and worth it."""
        if self.workers < 1:
            return
        todo = [s for s in ctx.parsed_sources if _cached(_cache_key(s)) is None]
        if sum(len(s.raw) for s in todo) < self.min_parallel_bytes:
            return
        chunks = _chunks(todo, self.workers)
        try:
            pool = _pool(self.workers)
            futures = [pool.submit(analyse_in_worker, [(s.path, s.raw) for s in chunk])
                       for chunk in chunks]
        except (BrokenProcessPool, OSError, RuntimeError):
            log.warning("bandit worker pool unavailable; running inline")
            return
        ctx.pending[self.id] = _Pending(chunks, futures)

    def run(self, ctx: ScanContext) -> list[Finding]:
        pending = ctx.pending.pop(self.id, None)
        if isinstance(pending, _Pending):
            for chunk, future in zip(pending.chunks, pending.futures, strict=True):
                try:
                    results = future.result()
                except (BrokenProcessPool, OSError, RuntimeError):
                    log.warning("bandit worker failed; analysing inline")
                    continue  # run_bandit below analyses these inline
                for source, found in zip(chunk, results, strict=True):
                    _remember(_cache_key(source), found)
        out: list[Finding] = []
        for source in ctx.parsed_sources:
            out += run_bandit(source)
        return out
