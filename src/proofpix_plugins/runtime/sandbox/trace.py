"""A failed call's traceback as the plugin author needs it: only the plugin's own frames.

Runs in the worker. Frames whose file is not inside the plugin's package root (the SDK, the
worker loop, the standard library, Pillow) are dropped, so the host's code and paths never reach
the result; paths are made relative to the package root. At most ``wire.MAX_TRACE_FRAMES`` of the
innermost frames are kept (a runaway recursion would otherwise send a thousand), and each string
is cut to the wire's bounds. The host re-validates the frames when it decodes the result.
"""

from __future__ import annotations

import linecache
import os
import traceback

from proofpix_plugins.runtime.sandbox import wire


def plugin_frames(exc: BaseException, root: str) -> list[wire.TraceFrame]:
    """The frames of ``exc``'s traceback that belong to files under ``root``, outermost first."""
    try:
        prefixes = {os.path.join(root, ""), os.path.join(os.path.realpath(root), "")}
        kept: list[wire.TraceFrame] = []
        # walk_tb without looking lines up: only kept frames pay for reading their source.
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            filename = frame.f_code.co_filename
            prefix = next((p for p in prefixes if filename.startswith(p)), None)
            if prefix is None:
                continue
            rel = filename[len(prefix):]
            code = linecache.getline(filename, lineno).strip() if lineno else ""
            kept.append(wire.TraceFrame(rel[:300], max(0, lineno or 0),
                                        frame.f_code.co_name[:200], code[:300]))
        return kept[-wire.MAX_TRACE_FRAMES:]
    except Exception:  # a traceback we cannot read must never cost the result itself
        return []
