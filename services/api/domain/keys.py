"""API keys and who a request acts as: pure rules, no I/O.

A key is `cf_<kind>_<key id>_<secret>`: the key id finds the stored record, the secret is checked against its
SHA-256 hash in constant time. Only the hash is stored; the whole key is shown once, when it is created.
Operator keys reach every tenant; tenant keys one tenant, with scopes."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

KeyKind = Literal["operator", "tenant"]
SCOPES = (
    "wallet:read",
    "wallet:write",
    "usage:write",
    "usage:read",
    "subscriptions:read",
    "subscriptions:write",
    "notifications:read",
)
"""What a tenant key may do. An operator key may do everything, on every tenant."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: KeyKind
    secret_hash: str
    name: str
    created_at: datetime
    tenant_id: str | None = None
    scopes: tuple[str, ...] = ()
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator key, a tenant key, or a portal session of one member of one tenant."""

    kind: Literal["operator", "tenant", "session"]
    key_id: str
    tenant_id: str | None = None
    scopes: tuple[str, ...] = ()
    member: str | None = None
    """A portal session's member (e-mail): the acting person for what only an admin may do."""

    def may(self, scope: str) -> bool:
        return self.kind == "operator" or scope in self.scopes

    def reaches(self, tenant_id: str) -> bool:
        return self.kind == "operator" or self.tenant_id == tenant_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(kind: KeyKind) -> tuple[str, str, str]:
    """(key id, secret, the whole key to show once)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"cf_{kind}_{key_id}_{secret}"


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key, or None when it is not of the form."""
    parts = presented.split("_", 3)
    if len(parts) != 4 or parts[0] != "cf" or parts[1] not in ("operator", "tenant") or not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3]


def verify(key: ApiKey, secret: str) -> bool:
    """Constant-time comparison of the presented secret's hash with the stored one; a revoked key never passes."""
    return key.revoked_at is None and hmac.compare_digest(key.secret_hash, hash_secret(secret))


def check_scopes(scopes: list[str]) -> list[str]:
    """The unknown ones (empty: all known)."""
    return [s for s in scopes if s not in SCOPES]


def key_principal(key: ApiKey | None, secret: str) -> Principal | None:
    """Who presents `secret` for the stored `key`: its principal, or None for an unknown, wrong or revoked key."""
    if key is None or not verify(key, secret):
        return None
    return Principal(key.kind, key.key_id, key.tenant_id, key.scopes)
