"""A local stand-in for Google's securetoken certificate endpoint.

Serves `{kid: PEM certificate}` with a Cache-Control max-age, like
https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com,
and counts the requests it gets.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class KeyServer:
    def __init__(self, *, max_age: int = 3600) -> None:
        self.certificates: dict[str, str] = {}
        self.max_age = max_age
        self.requests = 0
        # Set to an error status to make the endpoint fail, as Google's does during outages.
        self.status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.status != 200:
                    self.send_error(server.status)
                    return
                body = json.dumps(server.certificates).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header(
                    "Cache-Control",
                    f"public, max-age={server.max_age}, must-revalidate, no-transform",
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (
            f"http://127.0.0.1:{self._httpd.server_address[1]}/robot/v1/metadata/x509/securetoken"
        )
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def add_key(self, kid: str, key: rsa.RSAPrivateKey) -> None:
        self.certificates[kid] = self_signed_certificate(key)

    def __enter__(self) -> KeyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
