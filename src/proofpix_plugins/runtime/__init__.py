"""The plugin sandbox: hardened warm workers, their wire protocol, capability dispatch, hook bus.

Knows nothing of HTTP or the database: it is handed a :class:`~.broker.Broker`. Entry points:
``pool.WorkerPool`` (workers), ``hookbus.HookBus`` (hook calls), ``spec.PluginSpec`` (what to
run), ``config.RuntimeConfig``. Kept import-free on purpose: the template process imports
submodules of this package and must stay small.
"""
