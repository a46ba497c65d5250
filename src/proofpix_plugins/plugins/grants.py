"""What a plugin asked for versus what the organization's admin granted.

First install: omitted ``grantPermissions`` grants everything requested (as installing a
browser extension does); an explicit list grants exactly that subset. Upgrade: what was granted
before stays granted; anything new is granted only when the admin names it in this request —
otherwise the plugin waits, unloaded, for consent. Network hosts ride on ``http``: requesting
``http`` with hosts means the hosts are part of the same consent.

Which config keys are secret (``x-secret``) is part of the same consent on an upgrade: a key
that becomes secret, or stops being one, is listed in the diff and is pending as
``secret:<key>`` until the admin names that item (in the upgrade's ``grantPermissions`` or
later through the grant endpoint). A key that stops being secret also loses its stored value
(``plugins/install.py``): a secret never reaches a plugin in plain text because its author
dropped the mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from proofpix_plugins.errors import FieldError, ValidationFailed


@dataclass(frozen=True)
class GrantDecision:
    permissions: dict[str, bool]  # requested permission -> granted
    hosts: dict[str, bool]  # requested network host -> granted
    new_permissions: list[str] = field(default_factory=list)
    new_hosts: list[str] = field(default_factory=list)
    removed_permissions: list[str] = field(default_factory=list)
    added_secret_keys: list[str] = field(default_factory=list)
    removed_secret_keys: list[str] = field(default_factory=list)
    #: ``secret:<key>`` items the admin consented to in this request.
    secret_consent: frozenset[str] = frozenset()

    @property
    def secret_changes(self) -> list[str]:
        return [secret_item(k) for k in sorted({*self.added_secret_keys,
                                                 *self.removed_secret_keys})]

    @property
    def pending(self) -> list[str]:
        """Requested but not granted items that block loading (new ones on an upgrade)."""
        return [p for p in self.new_permissions if not self.permissions[p]] + [
            f"network:{h}" for h in self.new_hosts if not self.hosts[h]
        ] + [s for s in self.secret_changes if s not in self.secret_consent]

    @property
    def granted_permissions(self) -> frozenset[str]:
        return frozenset(p for p, ok in self.permissions.items() if ok)

    def diff(self) -> dict[str, list[str]]:
        return {
            "addedPermissions": self.new_permissions,
            "addedHosts": self.new_hosts,
            "removedPermissions": self.removed_permissions,
            "addedSecretKeys": self.added_secret_keys,
            "removedSecretKeys": self.removed_secret_keys,
            "pending": self.pending,
        }


def secret_item(key: str) -> str:
    """The consent item for a change in whether config key ``key`` is secret."""
    return f"secret:{key}"


def _check_subset(grant: Sequence[str], requested: Iterable[str]) -> None:
    wanted = set(requested)
    bad = [g for g in grant if g not in wanted]
    if bad:
        raise ValidationFailed(
            "grantPermissions may only name permissions the plugin requests",
            errors=tuple(
                FieldError(f"grantPermissions[{i}]", f"'{g}' is not requested", "subset", g)
                for i, g in enumerate(grant)
                if g in bad
            ),
        )


def decide(
    requested: Sequence[str],
    hosts: Sequence[str],
    grant: Sequence[str] | None,
    *,
    previous_permissions: frozenset[str] | None = None,
    previous_hosts: frozenset[str] | None = None,
    secret_keys: frozenset[str] = frozenset(),
    previous_secret_keys: frozenset[str] | None = None,
) -> GrantDecision:
    """Grants for a first install (``previous_* is None``) or an upgrade."""
    added_secrets = sorted(secret_keys - previous_secret_keys) if previous_secret_keys is not None \
        else []
    removed_secrets = sorted(previous_secret_keys - secret_keys) if previous_secret_keys \
        is not None else []
    secret_items = [secret_item(k) for k in sorted({*added_secrets, *removed_secrets})]
    if grant is not None:
        _check_subset(grant, [*requested, *secret_items])
    secret_consent = frozenset(g for g in grant or () if g in secret_items)
    grant = [g for g in grant if g not in secret_consent] if grant is not None else None
    upgrade = previous_permissions is not None
    if not upgrade:
        chosen = set(requested) if grant is None else set(grant)
        perms = {p: p in chosen for p in requested}
        http_ok = perms.get("http", False)
        return GrantDecision(perms, {h: http_ok for h in hosts})
    prev_p = previous_permissions or frozenset()
    prev_h = previous_hosts or frozenset()
    explicit = set(grant or ())
    perms = {p: (p in prev_p) or (p in explicit) for p in requested}
    # New hosts are consented to only by naming `http` in this request; known ones stay granted.
    host_map = {h: (h in prev_h) or ("http" in explicit) for h in hosts}
    new_p = sorted(p for p in requested if p not in prev_p)
    new_h = sorted(h for h in hosts if h not in prev_h)
    removed = sorted(p for p in prev_p if p not in requested)
    return GrantDecision(perms, host_map, new_p, new_h, removed, added_secrets, removed_secrets,
                         secret_consent)
