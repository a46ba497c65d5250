"""Our bandit driver reports exactly what stock bandit reports, on code full of bandit findings."""

from __future__ import annotations

import io
import warnings

from proofpix_plugins.scanning.checks.bandit_check import _analyse, clear_cache, run_bandit
from proofpix_plugins.scanning.context import parse_source_file
from tests.scanning.corpus import EXAMPLE_NAMES, EXAMPLES_DIR, MALICIOUS

NOISY = '''
import subprocess, pickle, hashlib, tempfile, yaml, requests, ssl, random, importlib, marshal
from xml.etree import ElementTree

password = "hunter2hunter2"


class Handler:
    def run(self, cmd, data, url, secret="dev-secret-123"):
        assert cmd
        subprocess.Popen(cmd, shell=True)
        subprocess.call(["ls", "-l"])
        pickle.loads(data)
        marshal.loads(data)
        importlib.import_module("pickle")
        __import__("marshal")
        hashlib.md5(data)
        eval(cmd)
        exec(cmd)
        yaml.load(data)
        requests.get(url, verify=False)
        ssl.wrap_socket(None, ssl_version=ssl.PROTOCOL_SSLv3)
        open(tempfile.mktemp(), "w")
        ElementTree.fromstring(data)
        random.random()
        query = "SELECT * FROM t WHERE id = '%s'" % cmd
        try:
            pass
        except Exception:
            pass
        return query, "0.0.0.0", "/tmp/x"
'''


def _stock(path: str, raw: bytes) -> list[tuple[str, int | None, int, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import config, meta_ast, metrics, node_visitor, test_set

    stats = metrics.Metrics()
    stats.begin(path)
    visitor = node_visitor.BanditNodeVisitor(
        path, io.BytesIO(raw), meta_ast.BanditMetaAst(),
        test_set.BanditTestSet(config.BanditConfig(), profile={}), False, {}, stats)
    visitor.process(raw)
    return sorted((str(i.test_id), i.lineno, i.col_offset, i.severity)
                  for i in visitor.tester.results)


def _ours(path: str, raw: bytes) -> list[tuple[str, int | None, int, str]]:
    source = parse_source_file(path, raw)
    out = []
    for f in _analyse(source):
        test_id = f.rule_id.removeprefix("PPX-BANDIT-")
        out.append((test_id, f.line, (f.column or 1) - 1, f.severity.value))
    return sorted(out)


def _samples() -> list[tuple[str, bytes]]:
    samples = [("plugin/noisy.py", NOISY.encode())]
    for case in MALICIOUS:
        for name, data in case.files.items():
            if name.endswith(".py"):
                samples.append((name, data.encode() if isinstance(data, str) else data))
    for example in EXAMPLE_NAMES:
        samples += [(str(p.relative_to(EXAMPLES_DIR)), p.read_bytes())
                    for p in (EXAMPLES_DIR / example).rglob("*.py")]
    return samples


def test_lean_driver_matches_stock_bandit():
    compared = 0
    seen: set[str] = set()
    for path, raw in _samples():
        source = parse_source_file(path, raw)
        if source.tree is None:
            continue
        stock = [(t, line, col) for t, line, col, _ in _stock(path, raw)]
        ours = [(t, line, col) for t, line, col, _ in _ours(path, raw)]
        assert ours == stock, path
        compared += len(stock)
        seen.update(t for t, _, _ in stock)
    assert compared >= 20  # the comparison is not vacuous
    # Gated or shared-context paths are exercised: trojansource (gated on bidi characters),
    # Call tests with and without config, string, function and import tests.
    assert {"B613", "B602", "B307", "B105", "B107", "B403", "B301", "B302",
            "B306", "B311"} <= seen, sorted(seen)


def test_results_are_cached_per_content():
    clear_cache()
    source = parse_source_file("plugin/noisy.py", NOISY.encode())
    first = run_bandit(source)
    again = run_bandit(parse_source_file("plugin/noisy.py", NOISY.encode()))
    assert first == again
    assert len(first) >= 10


def test_worker_processes_report_what_inline_bandit_reports(tmp_path):
    import dataclasses

    from proofpix_plugins.scanning import default_checks, scan_package
    from proofpix_plugins.scanning.checks.bandit_check import BanditCheck, shutdown_pools
    from tests.packages.builders import HANDLER_SOURCE, make_ppx

    # Enough Python (over PARALLEL_MIN_BYTES) for the pool to be used.
    files = {f"plugin/mod_{i}.py": NOISY.replace("Handler", f"Handler{i}") * 4 for i in range(90)}
    files["plugin/__init__.py"] = HANDLER_SOURCE
    path = make_ppx(tmp_path / "big.ppx", files)

    def scan(workers: int) -> list[tuple[str, str | None, int | None]]:
        clear_cache()
        checks = [dataclasses.replace(c, workers=workers) if isinstance(c, BanditCheck) else c
                  for c in default_checks()]
        report = scan_package(path, platform_version="0.1.0", python_version="3.11.7",
                              checks=checks)
        return [(f.rule_id, f.file, f.line) for f in report.findings]

    from proofpix_plugins.scanning.checks import bandit_check

    shutdown_pools()  # a server started by an earlier test may have left its warm pool
    try:
        inline = scan(0)
        assert not bandit_check._pools
        pooled = scan(2)
        assert bandit_check._pools  # the worker processes really did the work
    finally:
        shutdown_pools()
    assert pooled == inline
    assert sum(r.startswith("PPX-BANDIT-") for r, _, _ in inline) >= 1000
