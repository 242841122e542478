"""Field encryption for documents, account numbers and PIX keys (AES-256-GCM).

A stored value reads `<key id>:<base64url(nonce || ciphertext || tag)>`. The key id lets
old rows stay readable after a new key is put first in FIELD_ENCRYPTION_KEYS. Equality
look-ups use `blind_index`, an HMAC that reveals nothing about the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taskgo.config import get_settings

_DEV_KEY_FILE = Path("var/field-encryption.key")


class FieldDecryptionError(Exception):
    """A stored value could not be decrypted: unknown key id or tampered ciphertext."""


@dataclass(frozen=True)
class KeyRing:
    active_id: str
    keys: dict[str, bytes]
    index_key: bytes


def parse_keys(spec: str) -> KeyRing:
    """Parse `id1:base64key,id2:base64key`; the first key encrypts, all of them decrypt."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id.isalnum():
            raise ValueError("FIELD_ENCRYPTION_KEYS entries must look like KEYID:BASE64KEY")
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        if len(raw) != 32:
            raise ValueError(f"encryption key {key_id!r} must be 32 bytes (base64 of 32 bytes)")
        keys[key_id] = raw
        order.append(key_id)
    if not keys:
        raise ValueError("FIELD_ENCRYPTION_KEYS is empty: set at least one KEYID:BASE64KEY entry")
    # The index key must outlive rotations, so it derives from the oldest key (listed last).
    index_key = hmac.new(keys[order[-1]], b"taskgo-blind-index-v1", hashlib.sha256).digest()
    return KeyRing(active_id=order[0], keys=keys, index_key=index_key)


def _dev_key_spec() -> str:
    if not _DEV_KEY_FILE.exists():
        _DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        _DEV_KEY_FILE.write_text("dev:" + base64.b64encode(secrets.token_bytes(32)).decode())
        _DEV_KEY_FILE.chmod(0o600)
    return _DEV_KEY_FILE.read_text().strip()


@lru_cache
def key_ring() -> KeyRing:
    settings = get_settings()
    spec = settings.field_encryption_keys or os.environ.get("FIELD_ENCRYPTION_KEYS", "")
    if not spec:
        if settings.environment == "production":
            raise RuntimeError("FIELD_ENCRYPTION_KEYS must be set in production")
        spec = _dev_key_spec()
    return parse_keys(spec)


def encrypt_field(plaintext: str, *, context: str = "") -> str:
    """Encrypt `plaintext`; `context` (e.g. the column name) is bound as associated data."""
    ring = key_ring()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(ring.keys[ring.active_id]).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{ring.active_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt_field(token: str, *, context: str = "") -> str:
    ring = key_ring()
    key_id, sep, encoded = token.partition(":")
    key = ring.keys.get(key_id)
    if not sep or key is None:
        raise FieldDecryptionError(f"unknown encryption key id {key_id!r}")
    try:
        raw = base64.urlsafe_b64decode(encoded)
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise FieldDecryptionError("ciphertext failed authentication") from exc


def blind_index(value: str, *, context: str = "") -> str:
    """Return a keyed hash of `value` for unique indexes and look-ups without decrypting."""
    digest = hmac.new(key_ring().index_key, f"{context}\x00{value}".encode(), hashlib.sha256)
    return digest.hexdigest()


def mask_tail(value: str, *, visible: int = 4, mask: str = "•") -> str:
    """Hide all but the last `visible` characters: `12345678` → `••••5678`."""
    if len(value) <= visible:
        return mask * len(value)
    return mask * (len(value) - visible) + value[-visible:]
