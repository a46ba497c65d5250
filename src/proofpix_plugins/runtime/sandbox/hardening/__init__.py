"""Linux isolation primitives the worker applies to itself before importing plugin code.

Each module does one layer; ``detect`` reports which ones this host offers. They run in the
forked worker while it is still single-threaded, in the order ``worker.harden`` fixes.
"""
