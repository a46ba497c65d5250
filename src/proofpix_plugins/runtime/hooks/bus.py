"""The hook bus: which plugins a hook reaches, in what order, and what each one answered.

``execute_hook(org, name, data, options)`` (SPEC §4) calls every registered plugin of the org that
bound ``name``, highest priority first (ties by plugin id), through the :class:`WorkerPool`. It
never raises because of a plugin: each plugin gets its own :class:`PluginResult` (``results.py``)
with a status (``ok``, ``error``, ``timeout``, ``denied``, ``crashed``), and the circuit breaker
(``breaker.py``) disables a plugin after ``config.circuit_breaker_threshold`` consecutive
failures. ``options.py`` parses the call options; plugins holding ``events`` nest hook calls
through :meth:`HookBus._nested_call`.

Permission rule for host hooks (see docs/security-model.md): ``file:uploaded`` and
``file:process`` are about a file, so they are delivered only to plugins holding ``files``. A
plugin that bound such a hook without the grant is *not* called; it gets status ``denied`` in
every result (so the admin sees why it never runs), a ``permission_denied`` event is recorded
once per (plugin, hook) registration, and it does not count towards the circuit breaker: the
plugin did nothing wrong at run time, the grant is missing.

A little over our ~400-line norm: routing, execution and nested calls share the route table and
the call chains, and a nested call re-enters execution.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import (
    CapabilityDenied,
    CapabilityError,
    NotLoaded,
    PoolClosed,
)
from proofpix_plugins.runtime.hooks.breaker import FAILURES, CircuitBreaker, trip_reason
from proofpix_plugins.runtime.hooks.metrics import MetricsRegistry
from proofpix_plugins.runtime.hooks.options import DEFAULT_OPTIONS, HookOptions
from proofpix_plugins.runtime.hooks.permissions import HOOK_PERMISSIONS
from proofpix_plugins.runtime.hooks.results import CallRecord, HookResult, PluginResult
from proofpix_plugins.runtime.host.broker import Broker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.limits import TIMEOUT_MS_MAX, is_hook_name
from proofpix_plugins.runtime.outcome import CallOutcome, CallStatus
from proofpix_plugins.runtime.spec import CallBudget, CallInfo, PluginSpec, binding_errors

__all__ = ["HOOK_PERMISSIONS", "HookBus", "HookRecursionLimit"]

log = structlog.get_logger(__name__)



class HookRecursionLimit(CapabilityError):
    """A plugin's ``ctx.events.call`` went deeper than ``config.max_hook_depth``."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One plugin bound to one hook, with what it lacks to receive it."""

    plugin_id: str
    priority: int
    spec: PluginSpec
    missing: frozenset[str]
    nests: bool  # holds ``events``, so it may call hooks from inside its call


OnDisabled = Callable[[str, str, str], Awaitable[None] | None]


class HookBus:
    """Routes hooks to the warm workers of the plugins that bound them; see the module doc."""

    def __init__(
        self,
        pool: WorkerPool,
        broker: Broker,
        config: RuntimeConfig,
        on_metrics: Callable[[CallRecord], None] | None = None,
        *,
        on_disabled: OnDisabled | None = None,
        metrics: MetricsRegistry | None = None,
        hook_permissions: Mapping[str, frozenset[str]] = HOOK_PERMISSIONS,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.config = config
        self.metrics = metrics if metrics is not None else MetricsRegistry()
        self.on_metrics = on_metrics
        self.on_disabled = on_disabled
        self._hook_permissions = dict(hook_permissions)
        self._specs: dict[tuple[str, str], PluginSpec] = {}
        # org -> plugin id -> spec: a registration rebuilds only its own org's routes.
        self._by_org: dict[str, dict[str, PluginSpec]] = {}
        # org -> hook -> entries in call order; rebuilt on (un)register, read on every call.
        self._routes: dict[str, dict[str, tuple[_Entry, ...]]] = {}
        self._breaker = CircuitBreaker(config.circuit_breaker_threshold)
        self._denied_noted: set[tuple[str, str, str]] = set()
        # org -> plugin id -> (hooks it bound, why): plugins the circuit breaker disabled. They
        # are reported as ``skipped`` in every call of those hooks until registered again, so
        # a disabled plugin never silently disappears from the results.
        self._disabled: dict[str, dict[str, tuple[frozenset[str], str]]] = {}
        #: Plugins whose breaker tripped here and whose disabled state is not stored yet
        #: (``on_disabled`` still running): the stored state still says loaded.
        self._disabling: set[tuple[str, str]] = set()
        # call id -> plugins in the call chain, for calls a plugin may nest hooks into.
        self._chains: dict[str, frozenset[str]] = {}
        # call ids whose failures (and those of the calls nested in them) do not count.
        self._uncounted: set[str] = set()
        self._call_prefix = os.urandom(4).hex()
        self._call_seq = itertools.count(1)
        pool.set_hook_caller(self._nested_call)

    # -- registration ---------------------------------------------------------------------

    def validate(self, spec: PluginSpec) -> None:
        """Refuse a spec whose hook bindings the bus could not route, naming plugin and field."""
        errors = binding_errors(spec)
        if errors:
            raise ValidationFailed(f"plugin {spec.plugin_id} cannot be registered", errors)

    def register(self, spec: PluginSpec) -> None:
        """Route ``spec``'s hooks to it (replacing an earlier registration); validated here."""
        self.validate(spec)
        key = spec.key
        self._specs[key] = spec
        self._by_org.setdefault(spec.org_id, {})[spec.plugin_id] = spec
        self._breaker.forget(key)
        self._denied_noted = {d for d in self._denied_noted if (d[0], d[1]) != key}
        self._forget_disabled(spec.org_id, spec.plugin_id)
        self._rebuild(spec.org_id)

    def unregister(self, org_id: str, plugin_id: str) -> None:
        """Stop routing hooks to a plugin; unknown plugins are ignored."""
        if self._specs.pop((org_id, plugin_id), None) is not None:
            org = self._by_org.get(org_id, {})
            org.pop(plugin_id, None)
            if not org:
                self._by_org.pop(org_id, None)
            self._breaker.forget((org_id, plugin_id))
            self._rebuild(org_id)

    def _forget_disabled(self, org_id: str, plugin_id: str) -> None:
        disabled = self._disabled.get(org_id)
        if disabled is not None and disabled.pop(plugin_id, None) is not None and not disabled:
            self._disabled.pop(org_id, None)

    def note_disabled(self, org_id: str, plugin_id: str, hooks: Iterable[str],
                      reason: str) -> None:
        """Report ``plugin_id`` as ``skipped`` (with ``reason``) in calls of ``hooks``: what a
        process that did not trip the breaker itself learns from the stored status."""
        if (org_id, plugin_id) not in self._specs:
            self._disabled.setdefault(org_id, {})[plugin_id] = (frozenset(hooks), reason)

    def is_disabling(self, org_id: str, plugin_id: str) -> bool:
        """Whether this process's breaker tripped for the plugin and its disabled state is
        still being stored (until then the database says loaded)."""
        return (org_id, plugin_id) in self._disabling

    def disabled(self, org_id: str) -> dict[str, str]:
        """Plugin id -> reason, for the plugins of ``org_id`` the circuit breaker disabled."""
        return {pid: why for pid, (_, why) in self._disabled.get(org_id, {}).items()}

    def is_registered(self, org_id: str, plugin_id: str) -> bool:
        return (org_id, plugin_id) in self._specs

    def spec_of(self, org_id: str, plugin_id: str) -> PluginSpec | None:
        """The spec hooks are routed with, or None when the plugin is not registered."""
        return self._specs.get((org_id, plugin_id))

    def registered_keys(self) -> list[tuple[str, str]]:
        return list(self._specs)

    def registered(self, org_id: str, hook: str) -> list[str]:
        """Plugin ids a hook reaches in this org, in call order."""
        return [e.plugin_id for e in self._routes.get(org_id, {}).get(hook, ())]

    async def activate(self, spec: PluginSpec) -> None:
        """Start the plugin's worker, then route hooks to it (a failed load routes nothing).

        Routing only after the load means no call can reach a plugin whose worker is not up.
        """
        self.validate(spec)  # before paying for a worker
        await self.pool.load(spec)
        self.register(spec)

    async def update_grants(self, spec: PluginSpec) -> None:
        """A loaded plugin's permissions or hosts changed: route and serve it with ``spec`` now
        (``WorkerPool.update_spec``), without an unload."""
        self.validate(spec)
        self.register(spec)
        await self.pool.update_spec(spec)

    async def update_config(self, spec: PluginSpec) -> None:
        """A loaded plugin's config changed: its worker sees ``spec.config`` on its next call
        (``WorkerPool.update_config``), and the bus routes with the new spec."""
        await self.pool.update_config(spec.org_id, spec.plugin_id, spec.config)
        if spec.key in self._specs:
            self._specs[spec.key] = spec
            self._by_org[spec.org_id][spec.plugin_id] = spec
            self._rebuild(spec.org_id)

    async def deactivate(self, org_id: str, plugin_id: str) -> None:
        """Stop routing, then stop the worker (an admin's unload: no longer reported)."""
        self._forget_disabled(org_id, plugin_id)
        self.unregister(org_id, plugin_id)
        await self.pool.unload(org_id, plugin_id)

    def _rebuild(self, org_id: str) -> None:
        routes: dict[str, list[_Entry]] = {}
        for spec in self._by_org.get(org_id, {}).values():
            for name, binding in spec.hooks.items():
                needed = self._hook_permissions.get(name, frozenset())
                routes.setdefault(name, []).append(
                    _Entry(
                        plugin_id=spec.plugin_id,
                        priority=binding.priority,
                        spec=spec,
                        missing=needed - spec.permissions,
                        nests="events" in spec.permissions,
                    )
                )
        for entries in routes.values():
            entries.sort(key=lambda e: (-e.priority, e.plugin_id))
        if routes:
            self._routes[org_id] = {k: tuple(v) for k, v in routes.items()}
        else:
            self._routes.pop(org_id, None)

    # -- execution ------------------------------------------------------------------------

    async def execute_hook(
        self,
        org_id: str,
        name: str,
        data: Any,
        options: HookOptions | None = None,
        *,
        file_id: str | None = None,
        depth: int = 0,
        count_failures: bool = True,
    ) -> HookResult:
        """Call every plugin of ``org_id`` bound to ``name``; one result per plugin, in order.

        ``count_failures=False``: this call's outcomes do not move the circuit breaker (a
        caller who may not unload a plugin must not disable it; see the module doc).
        """
        if not is_hook_name(name):
            raise ValidationFailed(
                "invalid hook name",
                [FieldError("hook", "must look like 'file:uploaded'", "pattern", name)],
            )
        if depth > self.config.max_hook_depth:
            raise HookRecursionLimit(
                f"hook {name!r}: nested hook calls are limited to depth "
                f"{self.config.max_hook_depth}"
            )
        return await self._execute(
            org_id, name, data, options or DEFAULT_OPTIONS, file_id, depth, frozenset(), None,
            count_failures,
        )

    async def _execute(
        self,
        org_id: str,
        name: str,
        data: Any,
        options: HookOptions,
        file_id: str | None,
        depth: int,
        chain: frozenset[str],
        budget: CallBudget | None,
        counts: bool = True,
    ) -> HookResult:
        """``budget``: the calling plugin's, for a nested call; None gives each plugin its own."""
        started = time.perf_counter()
        entries = self._routes.get(org_id, {}).get(name, ())
        result = HookResult(name, 0.0, mode=options.mode)
        timeout = options.timeout_ms
        if options.mode == "parallel":
            if len(entries) == 1:
                result.results.append(
                    await self._call_one(entries[0], name, data, timeout, file_id, depth, chain,
                                         budget, counts)
                )
            elif entries:
                result.results.extend(
                    await asyncio.gather(
                        *(self._call_one(e, name, data, timeout, file_id, depth, chain, budget,
                                         counts)
                          for e in entries)
                    )
                )
        else:
            current = data
            for entry in entries:
                one = await self._call_one(entry, name, current, timeout, file_id, depth, chain,
                                           budget, counts)
                result.results.append(one)
                if one.status == "ok":
                    # A handler that returns nothing changed nothing: its input flows on, so a
                    # forgotten ``return`` does not wipe the data for every later plugin.
                    if options.mode == "waterfall" and one.result is not None:
                        current = one.result
                elif options.stop_on_error:
                    break
            result.output = current if options.mode == "waterfall" else None
        # A plugin disabled by this very call already has its result in it.
        called = {r.plugin_id for r in result.results}
        result.results.extend(r for r in self._skipped_disabled(org_id, name)
                              if r.plugin_id not in called)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _skipped_disabled(self, org_id: str, name: str) -> list[PluginResult]:
        return [
            PluginResult(pid, "skipped", 0.0, error=f"skipped: plugin is disabled ({why})")
            for pid, (hooks, why) in sorted(self._disabled.get(org_id, {}).items())
            if name in hooks
        ]

    async def _call_one(
        self,
        entry: _Entry,
        name: str,
        data: Any,
        option_timeout: int | None,
        file_id: str | None,
        depth: int,
        chain: frozenset[str],
        budget: CallBudget | None,
        counts: bool = True,
    ) -> PluginResult:
        spec = entry.spec
        if entry.plugin_id in chain:
            # Its worker is busy waiting for this very nested call: calling it would deadlock
            # until the timeout. Not the plugin's failure, so no metrics and no breaker count.
            return PluginResult(
                entry.plugin_id, "error", 0.0,
                error=f"re-entrant hook call refused: {entry.plugin_id} is already in this chain",
            )
        if entry.missing:
            await self._note_hook_denied(entry, name)
            self._account(spec, name, "denied", 0.0, None)
            return PluginResult(
                entry.plugin_id, "denied", 0.0,
                error=f"hook {name} requires permission(s) {', '.join(sorted(entry.missing))}, "
                "not granted",
            )
        timeout = spec.timeout_ms
        if option_timeout is not None and option_timeout < timeout:
            timeout = option_timeout
        call_id = f"{self._call_prefix}-{next(self._call_seq):x}"
        info = CallInfo(
            org_id=spec.org_id,
            plugin_id=entry.plugin_id,
            hook=name,
            call_id=call_id,
            file_id=file_id,
            depth=depth,
            deadline=time.time() + timeout / 1000,
            budget=budget if budget is not None else CallBudget(),
        )
        if entry.nests:
            self._chains[call_id] = chain | {entry.plugin_id}
            if not counts:
                self._uncounted.add(call_id)
        started = time.perf_counter()
        outcome: CallOutcome | None = None
        try:
            # No caller timeout: the wait for a busy worker is the host's queue bound, not
            # the plugin's run budget (bursts queued past a 1 s budget in bench/load.py); the
            # pool keeps a nested call within its caller's deadline.
            queue_ms = (None if option_timeout is not None
                        else int(self.config.queue_wait_s * 1000))
            outcome = await self.pool.call(spec.key, name, data, timeout_ms=timeout, info=info,
                                           queue_ms=queue_ms)
            status: CallStatus = outcome.status
            value, error = outcome.result, outcome.error
        except NotLoaded as exc:
            # Unloaded (or disabled) between routing and the call: not the plugin's failure.
            status, value, error = "skipped", None, f"skipped: plugin was unloaded ({exc.detail})"
        except PoolClosed:
            status, value, error = "error", None, "the sandbox runtime is shutting down"
        except Exception as exc:  # the runtime itself failed this call; others go on
            log.exception("hook call failed in the runtime", plugin=entry.plugin_id, hook=name)
            status, value, error = "crashed", None, f"runtime failure: {type(exc).__name__}"
        finally:
            if entry.nests:
                self._chains.pop(call_id, None)
                self._uncounted.discard(call_id)
        if budget is None and info.budget.denied_dropped:
            # The top-level call is over: one event stands for every refusal past the budget.
            await self._record(
                spec.org_id, entry.plugin_id, "permission_denied",
                {"capability": "*", "hook": name, "callId": call_id,
                 "suppressed": info.budget.denied_dropped,
                 "reason": "more refusals in this call than are recorded one by one"},
            )
        elapsed = (time.perf_counter() - started) * 1000
        if status == "skipped":  # never ran: no metrics, no breaker count
            return PluginResult(entry.plugin_id, status, elapsed, None, error)
        # The budget is shared with nested calls: a top-level record counts theirs too.
        caps = {cap: spent[0] for cap, spent in info.budget.caps.items()} if budget is None else {}
        self._account(spec, name, status, elapsed, outcome, caps)
        if not counts:
            pass  # the caller may not disable the plugin: outcomes leave the breaker alone
        elif status == "ok":
            self._breaker.succeeded(spec.key)
        elif status in FAILURES and outcome is not None and outcome.ran:
            # Only what the plugin's own worker did counts: a pool shutting down, a runtime
            # fault or a call that timed out queued for the worker (load, not the plugin)
            # must not disable every plugin it happened to be calling.
            await self._count_failure(spec, status, error)
        return PluginResult(entry.plugin_id, status, elapsed, value, error,
                            outcome.trace if outcome is not None else ())

    def _account(
        self, spec: PluginSpec, hook: str, status: CallStatus, elapsed: float,
        outcome: CallOutcome | None, capabilities: Mapping[str, int] | None = None,
    ) -> None:
        cpu = outcome.cpu_ms if outcome else None
        rss = outcome.peak_rss_kb if outcome else None
        http = outcome.http_calls if outcome else 0
        stored = outcome.storage_bytes if outcome else 0
        self.metrics.record(
            spec.org_id, spec.plugin_id, status, elapsed,
            cpu_ms=cpu, peak_rss_kb=rss, http_calls=http, storage_bytes=stored,
        )
        if self.on_metrics is not None:
            try:
                self.on_metrics(
                    CallRecord(spec.org_id, spec.plugin_id, hook, status, elapsed, cpu, rss,
                               http, stored, dict(capabilities or {}))
                )
            except Exception:  # a metrics sink must never fail a hook call
                log.exception("on_metrics callback failed", plugin=spec.plugin_id)

    # -- permissions, circuit breaker ------------------------------------------------------

    async def _note_hook_denied(self, entry: _Entry, hook: str) -> None:
        mark = (entry.spec.org_id, entry.plugin_id, hook)
        if mark in self._denied_noted:
            return
        self._denied_noted.add(mark)
        await self._record(
            entry.spec.org_id, entry.plugin_id, "permission_denied",
            {"hook": hook, "permissions": sorted(entry.missing),
             "reason": "hook requires a permission the plugin was not granted; not called"},
        )

    async def _count_failure(self, spec: PluginSpec, status: str, error: str | None) -> None:
        key = spec.key
        if key not in self._specs:
            return
        n = self._breaker.failed(key)
        if n is None:
            return
        self._disabling.add(key)
        try:
            reason = trip_reason(n, status, error)
            self.unregister(*key)
            self._disabled.setdefault(spec.org_id, {})[spec.plugin_id] = (
                frozenset(spec.hooks), reason)
            try:
                await self.pool.unload(*key)
            except Exception:
                log.exception("unloading a disabled plugin failed", plugin=spec.plugin_id)
            await self._record(
                spec.org_id, spec.plugin_id, "disabled",
                {"reason": reason, "consecutiveFailures": n, "lastStatus": status,
                 "lastError": error},
            )
            log.warning("plugin disabled", org=spec.org_id, plugin=spec.plugin_id, reason=reason)
            if self.on_disabled is not None:
                try:
                    maybe = self.on_disabled(spec.org_id, spec.plugin_id, reason)
                    if inspect.isawaitable(maybe):
                        await maybe
                except Exception:
                    log.exception("on_disabled callback failed", plugin=spec.plugin_id)
        finally:
            self._disabling.discard(key)
            self._breaker.done(key)

    async def _record(
        self, org_id: str, plugin_id: str, event_type: str, details: dict[str, Any]
    ) -> None:
        try:
            await self.broker.record_event(org_id, plugin_id, event_type, details)
        except Exception:  # losing an event must not fail the hook call that caused it
            log.exception("recording an event failed", plugin=plugin_id, event_type=event_type)

    # -- nested calls from plugins (ctx.events.call) ---------------------------------------

    async def _nested_call(self, info: CallInfo, hook: str, data: Any) -> Any:
        """What a plugin's ``ctx.events.call(hook, data)`` runs; returns the wire result."""
        caller = self._specs.get((info.org_id, info.plugin_id))
        if caller is None or "events" not in caller.permissions:
            raise CapabilityDenied(f"{info.plugin_id} may not call hooks without 'events'")
        if not is_hook_name(hook):
            raise CapabilityError("events.call: hook name must look like 'acme:done'")
        if info.depth > self.config.max_hook_depth:
            raise HookRecursionLimit(
                f"events.call({hook!r}): nested hook calls are limited to depth "
                f"{self.config.max_hook_depth}"
            )
        remaining_ms = int((info.deadline - time.time()) * 1000) if info.deadline else 0
        if info.deadline and remaining_ms < 1:
            raise CapabilityError(f"events.call({hook!r}): the calling hook's deadline has passed")
        options = HookOptions(timeout_ms=min(remaining_ms, TIMEOUT_MS_MAX) or None)
        chain = self._chains.get(info.call_id, frozenset({info.plugin_id}))
        result = await self._execute(
            info.org_id, hook, data, options, info.file_id, info.depth, chain, info.budget,
            info.call_id not in self._uncounted,
        )
        return result.to_wire()

