"""Proxy keys: who is calling, which ledger account pays, which prices apply.

A key is never stored in the config, only its SHA-256 (hex) — or the name of an environment
variable that holds the key itself (``key_env``), hashed when the proxy starts. A request
presents ``Authorization: Bearer KEY``; the proxy hashes it and looks the digest up. An
unknown digest, a missing header or a ``revoked: true`` key is refused (HTTP 401).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from tokenomy.errors import ConfigError
from tokenomy.proxy.config import KeyConfig, ProxyConfig

__all__ = ["KeyRing", "ProxyKey", "hash_key"]


def hash_key(key: str) -> str:
    """The hex SHA-256 of a proxy key (what the config stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ProxyKey:
    """A configured key: its name, the account it spends from, its price overrides."""

    name: str
    account: str
    config: KeyConfig

    @property
    def revoked(self) -> bool:
        """Whether the key is revoked (its requests are refused)."""
        return self.config.revoked


class KeyRing:
    """The configured keys, by digest.

    Args:
        config: the proxy configuration.
        environ: where ``key_env`` variables are read (default ``os.environ``).

    Raises:
        ConfigError: a ``key_env`` variable is unset or empty, or two keys hash the same.
    """

    def __init__(self, config: ProxyConfig, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._by_digest: dict[str, ProxyKey] = {}
        for entry in config.keys:
            if entry.sha256 is not None:
                digest = entry.sha256
            else:
                assert entry.key_env is not None
                secret = env.get(entry.key_env, "")
                if not secret:
                    raise ConfigError(
                        f"proxy key '{entry.name}': environment variable {entry.key_env} is "
                        "unset or empty; expected the key"
                    )
                digest = hash_key(secret)
            if digest in self._by_digest:
                raise ConfigError(
                    f"proxy keys '{self._by_digest[digest].name}' and '{entry.name}' are the "
                    "same key; expected distinct keys"
                )
            self._by_digest[digest] = ProxyKey(entry.name, entry.account, entry)

    def authenticate(self, authorization: str | None) -> ProxyKey | None:
        """The key an ``Authorization`` header presents, or None (unknown, revoked, absent)."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        key = self._by_digest.get(hash_key(token.strip()))
        if key is None or key.revoked:
            return None
        return key

    def __len__(self) -> int:
        return len(self._by_digest)
