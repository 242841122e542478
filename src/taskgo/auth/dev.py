"""The dev-mode token issuer: a local RSA key that signs Firebase-shaped ID tokens."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from taskgo.auth.tokens import ISSUER_PREFIX


class DevIssuer:
    def __init__(self, private_key: rsa.RSAPrivateKey, *, project_id: str) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = "dev-" + hashlib.sha256(der).hexdigest()[:16]
        self.project_id = project_id

    @classmethod
    def load_or_create(cls, path: Path, *, project_id: str) -> DevIssuer:
        """Reuse the key in `path` so tokens survive restarts; create it on first use."""
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA private key")
            return cls(loaded, project_id=project_id)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return cls(key, project_id=project_id)

    def issue(self, *, uid: str, role: str, name: str, ttl_seconds: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER_PREFIX + self.project_id,
            "aud": self.project_id,
            "sub": uid,
            "user_id": uid,
            "iat": now,
            "auth_time": now,
            "exp": now + ttl_seconds,
            "name": name,
            "role": role,
            "firebase": {"sign_in_provider": "custom"},
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})
