"""The plugin sandbox: hardened warm workers, their wire protocol, capability dispatch, hook bus.

It knows nothing of HTTP or the database: the lifecycle layer hands it a ``host.broker.Broker``
for every capability that touches data. The folders say in which process code runs:

``sandbox/``
    Inside the sandbox. ``template`` is the clean interpreter the host execs once; it enters an
    empty netns and forks one ``worker`` per plugin, which hardens itself (``hardening/``: uid,
    rlimits, no_new_privs, Landlock, seccomp), installs the ``import_policy`` and serves calls.
    ``wire`` is the host-worker frame protocol, ``control`` the host-template one. Nothing here
    imports ``host/``, ``hooks/`` or ``egress/``, so the template stays small.
``host/``
    In the server process. ``pool.WorkerPool`` owns the workers (through ``template_client``
    and one ``worker_handle`` each) and their ``scratch`` dirs (tmpfs mounts: ``scratch_fs``),
    ``cgroup`` groups and ``/proc`` reads (``procfs``); ``fs_access`` checks what a plugin uid
    can read; ``detect`` reports which layers this host offers. ``capabilities`` checks and
    serves each capability request against the ``broker`` (``memory_broker`` is the in-memory
    one used by tests and benchmarks).
``hooks/``
    In the server process, above the pool. ``bus.HookBus`` routes a hook to the plugins that
    bound it, with its ``options``, ``results`` and circuit ``breaker``; ``metrics`` aggregates
    every call.
``egress/``
    In the server process: the guard behind the ``http`` capability (``fetch``), with its
    address policy, host syntax and allow list, and errors.

Shared by all of them: ``spec`` (what to run: :class:`~.spec.PluginSpec`), ``limits`` (the
declaration rules the manifest also imports), ``config.RuntimeConfig``, ``outcome``, ``errors``
and ``libc``. Kept import-free on purpose: the template imports submodules of this package and
must stay small.
"""
