"""API keys: parse ``API_KEYS``, check a presented key in constant time, bind keys to clusters.

``API_KEYS`` is a comma list of entries (whitespace around entries is ignored):

    key                                  plain key, valid for every cluster (the seed's form)
    key:alpha+beta                       plain key, valid for clusters alpha and beta only
    sha256:<64 hex>[:clusters]           sha256 of the key: the server never holds the plaintext
    salted-sha256:<salt>:<64 hex>[:clusters]   sha256(salt + key); make one with
                                         ``slurm-usage-receiver --hash-key`` (reads the key on stdin)

Plain keys must not contain ``,`` or ``:``. A key is never logged: logs and
responses use its id, the first 8 hex digits of sha256(key), which the
operator can compute with ``printf %s KEY | sha256sum | cut -c1-8``.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from slurm_assets.storage import paths

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SALT = re.compile(r"^[A-Za-z0-9._~+/=-]{1,128}$")


class KeyConfigError(ValueError):
    """``API_KEYS`` is malformed; the message names the entry by position, never the key."""


@dataclass(frozen=True)
class KeyEntry:
    """One configured key: how to check it and which clusters it may post for (None = all)."""

    kind: str  # "plain" | "sha256" | "salted-sha256"
    digest: bytes  # sha256(key) or sha256(salt + key)
    salt: bytes
    clusters: frozenset[str] | None


@dataclass(frozen=True)
class KeyMatch:
    key_id: str
    clusters: frozenset[str] | None

    def allows(self, cluster: str) -> bool:
        return self.clusters is None or cluster in self.clusters


def key_id(key: str) -> str:
    """The loggable id of a key: first 8 hex digits of its sha256."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _clusters(spec: str, position: int) -> frozenset[str]:
    names = [c.strip() for c in spec.split("+")]
    try:
        return frozenset(paths.check_cluster_name(c) for c in names)
    except paths.InvalidNameError as err:
        raise KeyConfigError(f"API_KEYS entry #{position}: {err}") from err


def _hex_digest(value: str, position: int) -> bytes:
    value = value.lower()
    if not _HEX64.match(value):
        raise KeyConfigError(f"API_KEYS entry #{position}: expected 64 hex digits after 'sha256:'")
    return bytes.fromhex(value)


def parse_entry(entry: str, position: int) -> KeyEntry:
    """One ``API_KEYS`` entry -> KeyEntry; ``position`` (1-based) is used in error messages."""
    if entry.startswith("salted-sha256:"):
        parts = entry.split(":")
        if len(parts) not in (3, 4) or not _SALT.match(parts[1]):
            raise KeyConfigError(
                f"API_KEYS entry #{position}: expected salted-sha256:<salt>:<64 hex>[:clusters] "
                "(salt: letters, digits, ._~+/=-)"
            )
        clusters = _clusters(parts[3], position) if len(parts) == 4 else None
        return KeyEntry(
            "salted-sha256",
            _hex_digest(parts[2], position),
            parts[1].encode(),
            clusters,
        )
    if entry.startswith("sha256:"):
        parts = entry.split(":")
        if len(parts) not in (2, 3):
            raise KeyConfigError(f"API_KEYS entry #{position}: expected sha256:<64 hex>[:clusters]")
        clusters = _clusters(parts[2], position) if len(parts) == 3 else None
        return KeyEntry("sha256", _hex_digest(parts[1], position), b"", clusters)
    key, sep, spec = entry.partition(":")
    if not key or ":" in spec:
        raise KeyConfigError(f"API_KEYS entry #{position}: expected key or key:clusterA+clusterB")
    clusters = _clusters(spec, position) if sep else None
    return KeyEntry("plain", hashlib.sha256(key.encode()).digest(), b"", clusters)


def parse_api_keys(spec: str) -> tuple[KeyEntry, ...]:
    """Parse the whole ``API_KEYS`` value; empty entries are skipped."""
    entries = [e.strip() for e in (spec or "").split(",")]
    return tuple(parse_entry(e, i) for i, e in enumerate(entries, 1) if e)


def check_key(entries: tuple[KeyEntry, ...], presented: str | None) -> KeyMatch | None:
    """The match for a presented key, or None. Every entry is compared (constant time per entry)."""
    if not presented:
        return None
    raw = presented.encode()
    plain = hashlib.sha256(raw).digest()
    clusters: list[frozenset[str] | None] = []
    for entry in entries:
        candidate = hashlib.sha256(entry.salt + raw).digest() if entry.salt else plain
        if hmac.compare_digest(candidate, entry.digest):
            clusters.append(entry.clusters)
    if not clusters:
        return None
    # The same key listed twice: the union of its bindings (an unbound listing allows all).
    merged = None if any(c is None for c in clusters) else frozenset().union(*clusters)
    return KeyMatch(key_id(presented), merged)


def hash_key_entry(key: str, salt: str | None = None) -> str:
    """A ``salted-sha256:`` entry for ``key`` (random salt unless given), for ``API_KEYS``."""
    salt = salt or secrets.token_hex(8)
    return f"salted-sha256:{salt}:{hashlib.sha256(salt.encode() + key.encode()).hexdigest()}"
