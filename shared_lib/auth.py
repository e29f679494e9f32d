"""Firebase ID tokens: one lazily built firebase-admin app, token verification, emulator tokens."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any

from shared_lib.config import settings

APP_NAME = "onlymanager"
_ISSUER_PREFIX = "https://securetoken.google.com/"

_app: Any = None
_app_lock = threading.Lock()
_google_cert_url: str | None = None  # firebase-admin's own default, remembered before we touch it


class TokenError(Exception):
    """The caller's ID token is missing or not acceptable (the HTTP layer answers 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_google_credential():
    """A firebase-admin credential that never contacts Google (emulator, tests, no ADC)."""
    import firebase_admin.credentials
    import google.auth.credentials

    class _Anonymous(firebase_admin.credentials.Base):
        def get_credential(self):
            return google.auth.credentials.AnonymousCredentials()

    return _Anonymous()


def _google_credentials_available() -> bool:
    # Deliberately not google.auth.default(): off Google Cloud it probes the metadata
    # server and stalls a local start for seconds.
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    from google.auth import _cloud_sdk

    return os.path.isfile(_cloud_sdk.get_application_default_credentials_path())


def _credential():
    import firebase_admin.credentials

    cfg = settings()
    if cfg.firebase_auth_emulator_host:
        return _no_google_credential()
    if cfg.in_cloud or _google_credentials_available():
        return firebase_admin.credentials.ApplicationDefault()
    # verify_id_token only needs the project id and the public certificates.
    return _no_google_credential()


def _point_cert_url() -> None:
    # The only seam into firebase-admin: Google's certificate endpoint cannot run in tests,
    # so FIREBASE_CERT_URL may point the ID-token verifier at a local one. firebase-admin
    # 7.x reads this module global once, when an app's auth Client builds its TokenVerifier
    # (on the first firebase_admin.auth call with that app), so it must be set before then.
    # Without FIREBASE_CERT_URL, Google's default is put back (tests switch modes).
    global _google_cert_url
    from firebase_admin import _token_gen

    if _google_cert_url is None:
        _google_cert_url = _token_gen.ID_TOKEN_CERT_URI
    _token_gen.ID_TOKEN_CERT_URI = settings().firebase_cert_url or _google_cert_url


def firebase_app():
    """The process's firebase-admin app, created on first use and reused by every invocation."""
    global _app
    if _app is not None:
        return _app
    with _app_lock:
        if _app is None:
            import firebase_admin

            _point_cert_url()
            try:  # left behind by an earlier copy of this module (a test reloaded it)
                firebase_admin.delete_app(firebase_admin.get_app(APP_NAME))
            except ValueError:
                pass
            _app = firebase_admin.initialize_app(
                _credential(), {"projectId": settings().google_cloud_project}, name=APP_NAME
            )
    return _app


class CertCache:
    """A google-auth transport for the certificate GETs of ID-token verification that keeps each answer in
    process for as long as its Cache-Control max-age allows (less its Age), as Google's endpoint asks.

    firebase-admin's own transport (a cachecontrol-wrapped requests session) honours max-age too, but pays on
    every verification for the session's work: the proxy environment scan, the cache lookup and the cached
    response's deserialization (issue #13). Fetches still go through that transport (its timeout, its errors);
    an answer that is not a 200 with a max-age is never kept. Signature, audience, issuer, expiry and revocation
    checks are firebase-admin's and google-auth's, unchanged: only the certificates' bytes are reused.
    """

    def __init__(self, fetch, clock=time.monotonic):
        self._fetch, self._clock = fetch, clock
        self._kept: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def kept_now(self) -> tuple:
        """The answers kept and still fresh now (an empty tuple when none is): a token verified against them
        may be taken as verified while exactly these are kept (VerifiedTokens)."""
        now = self._clock()
        return tuple(answer for until, answer in list(self._kept.values()) if now < until)

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET" or body is not None:
            return self._fetch(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        kept = self._kept.get(url)
        if kept is not None and self._clock() < kept[0]:
            return kept[1]
        with self._lock:
            kept = self._kept.get(url)
            if kept is not None and self._clock() < kept[0]:
                return kept[1]
            self.fetches += 1
            response = self._fetch(url, method=method, headers=headers, timeout=timeout, **kwargs)
            ttl = _fresh_for(response)
            if ttl > 0:
                self._kept[url] = (self._clock() + ttl, response)
            else:
                self._kept.pop(url, None)
            return response


def _fresh_for(response) -> int:
    """Whole seconds a certificate answer may be reused: max-age less Age; 0 for anything but a cacheable 200."""
    if getattr(response, "status", None) != 200:
        return 0
    headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0
    max_age = next((d.partition("=")[2] for d in directives if d.startswith("max-age=")), "")
    try:
        return max(0, int(max_age) - int(headers.get("age", "0") or 0))
    except ValueError:
        return 0


_certs_cached_for: Any = None  # the app whose token verifier fetches through a CertCache
_cert_cache: CertCache | None = None  # that verifier's


def _cache_certificates(app) -> None:
    # firebase-admin builds the app's auth client, and its TokenVerifier (which reads ID_TOKEN_CERT_URI), on the
    # first firebase_admin.auth call with the app: here, on the first verification (not when the app is made:
    # building the client resolves the credential, which ApplicationDefault does lazily), once per app. Its
    # `request` is the transport every verification fetches the certificates with.
    global _certs_cached_for, _cert_cache
    if _certs_cached_for is app:
        return
    from firebase_admin import auth

    with _app_lock:
        if _certs_cached_for is not app:
            verifier = auth._get_client(app)._token_verifier
            if not isinstance(verifier.request, CertCache):
                verifier.request = CertCache(verifier.request)
            _verified.clear()
            _cert_cache = verifier.request
            _certs_cached_for = app


class VerifiedTokens:
    """ID tokens verified in this process, taken as verified again while nothing that verified them changed: a
    browser sends the same token with every request for up to an hour, and each verification decodes it, parses
    the certificate and checks an RS256 signature again (issue #13). A token is its own key — header, claims and
    signature, byte for byte — so a hit is the very token that passed every check. It holds while the
    certificate answers it was verified against are still the ones kept (CertCache.kept_now: refetched, stale or
    never storable, the token is verified in full again) and its `exp` is still ahead, checked on every hit.
    Bounded (least recently used out); production mode only (the emulator's tokens are unsigned); never for
    check_revoked (that asks Firebase Auth each time)."""

    MAX = 1024

    def __init__(self) -> None:
        from collections import OrderedDict

        self._lock = threading.Lock()
        self._tokens: "OrderedDict[str, tuple[dict, tuple]]" = OrderedDict()

    def get(self, token: str, certs: tuple) -> dict | None:
        with self._lock:
            kept = self._tokens.get(token)
            if kept is None:
                return None
            claims, verified_with = kept
            if not (certs and len(certs) == len(verified_with) and all(a is b for a, b in zip(certs, verified_with))
                    and time.time() < claims["exp"]):
                del self._tokens[token]
                return None
            self._tokens.move_to_end(token)
        return dict(claims)

    def keep(self, token: str, claims: dict, certs: tuple) -> None:
        if not certs or not isinstance(claims.get("exp"), (int, float)):
            return
        with self._lock:
            self._tokens[token] = (dict(claims), certs)
            while len(self._tokens) > self.MAX:
                self._tokens.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


_verified = VerifiedTokens()


def verify_id_token(token: str, *, check_revoked: bool = False) -> dict:
    """Decoded claims (`uid`, `email`, `name`, …) of a valid Firebase ID token, else TokenError.

    check_revoked asks Firebase Auth whether the user's tokens were revoked or the user
    disabled (one network call; needs real credentials or the emulator).
    """
    if not isinstance(token, str) or not token:
        raise TokenError("missing bearer token")
    from firebase_admin import auth, exceptions

    app = firebase_app()
    _cache_certificates(app)
    reuse = not check_revoked and not settings().firebase_auth_emulator_host and _cert_cache is not None
    if reuse:
        claims = _verified.get(token, _cert_cache.kept_now())
        if claims is not None:
            return claims
    try:
        claims = auth.verify_id_token(token, app=app, check_revoked=check_revoked)
        if reuse:
            _verified.keep(token, claims, _cert_cache.kept_now())
        return claims
    except auth.ExpiredIdTokenError:
        raise TokenError("expired ID token") from None
    except auth.RevokedIdTokenError:
        raise TokenError("revoked ID token") from None
    except auth.UserDisabledError:
        raise TokenError("user disabled") from None
    except auth.UserNotFoundError:
        raise TokenError("unknown user") from None
    except (exceptions.InvalidArgumentError, ValueError, TypeError):
        # InvalidIdTokenError (signature, alg, kid, aud, iss, sub) and tenant mismatch are
        # InvalidArgumentErrors; ValueError/TypeError come from parsing untrusted bytes.
        # The reason stays generic: firebase-admin's messages can quote the token itself.
        # CertificateFetchError is our outage, not the caller's fault: it propagates (5xx).
        raise TokenError("invalid ID token") from None


def bearer_token(authorization_header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, else TokenError."""
    if not authorization_header:
        raise TokenError("missing bearer token")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenError("missing bearer token")
    return token


def _b64url(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint_emulator_token(
    uid: str,
    email: str | None = None,
    *,
    name: str | None = None,
    project_id: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """An unsigned (`alg: none`) ID token shaped like the Firebase Auth emulator's.

    Only firebase-admin in emulator mode accepts it; in production the signature check rejects it.
    """
    project = project_id or settings().google_cloud_project
    now = int(time.time())
    claims: dict[str, Any] = {}
    if name is not None:
        claims["name"] = name
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = False  # what the emulator's signUp gives
    claims["auth_time"] = now
    claims["user_id"] = uid
    claims["firebase"] = {
        "identities": {"email": [email]} if email is not None else {},
        "sign_in_provider": "password" if email is not None else "custom",
    }
    claims.update(
        iat=now, exp=now + ttl_seconds, aud=project, iss=_ISSUER_PREFIX + project, sub=uid
    )
    # Same encoding as the emulator (jsonwebtoken, algorithm "none"): empty signature segment.
    return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."


def reset_for_tests() -> None:
    """Delete the cached app so the next firebase_app() follows the current environment."""
    global _app
    _verified.clear()
    with _app_lock:
        if _app is not None:
            import firebase_admin

            try:
                firebase_admin.delete_app(_app)
            except ValueError:  # already deleted
                pass
            _app = None
        if _google_cert_url is not None:
            from firebase_admin import _token_gen

            _token_gen.ID_TOKEN_CERT_URI = _google_cert_url
