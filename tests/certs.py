"""Google's securetoken certificate endpoint, locally: an RSA key, a self-signed certificate for it, and an HTTP
server answering {kid: PEM} with a Cache-Control header (Google sends max-age=3600). Production-mode ID-token
checks (tests/integration/test_auth_production.py, tests/unit/test_auth_cert_cache.py) and bench/bench_register.py
verify against it through FIREBASE_CERT_URL: there is no Google here."""
from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GOOGLE_CACHE_CONTROL = "public, max-age=3600, must-revalidate, no-transform"
PATH = "/robot/v1/metadata/x509/securetoken"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_pem(key: rsa.RSAPrivateKey, common_name: str = "securetoken.test") -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class CertServer:
    """Serves {kid: PEM certificate} with the Cache-Control given; `hits` counts the GETs."""

    def __init__(self, certs: dict[str, str], cache_control: str = GOOGLE_CACHE_CONTROL):
        body = json.dumps(certs).encode()
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Cache-Control", cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{PATH}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
