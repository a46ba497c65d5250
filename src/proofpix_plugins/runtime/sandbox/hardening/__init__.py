"""Linux isolation primitives the worker applies to itself before importing plugin code.

Each module does one layer; the template probes which ones this host offers and
``host/detect.py`` reports them. They run in the forked worker while it is still single-threaded,
in the order ``worker.harden`` fixes. The template itself only enters the empty netns (which its
workers inherit) and sets its own parent-death signal.
"""
