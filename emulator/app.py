"""The local platform's WSGI app: every registry HTTP function routed as the Hosting rewrites, Swagger UI, CORS, admin."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from shared_lib import registry
from shared_lib.errors import ApiError, BadRequest, NotFound
from shared_lib.http import json_response, problem_response

ROOT = Path(__file__).resolve().parent.parent
# Swagger UI 5 (npm swagger-ui-dist, installed with the emulators): the first major version that reads
# OpenAPI 3.1. validatorUrl null: the default posts the document to validator.swagger.io.
SWAGGER_UI_DIST = ROOT / "node_modules" / "swagger-ui-dist"
SWAGGER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OnlyManager Economy API</title>
<link rel="icon" href="/api/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/api/docs/openapi.yaml", dom_id: "#swagger-ui",
  persistAuthorization: true, displayRequestDuration: true, validatorUrl: null,
});
</script>
</body></html>"""

# Dev servers' usual ports (React/Next 3000, Angular 4200, serve 5000, Vite 5173, Expo 8081).
DEFAULT_CORS_ORIGINS = ",".join(f"http://{host}:{port}" for host in ("localhost", "127.0.0.1")
                                for port in (3000, 4200, 5000, 5173, 8081))
CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_EXPOSE_HEADERS = "Idempotent-Replayed, Content-Disposition"
CORS_MAX_AGE = "600"


class CorsSettings(BaseSettings):
    """The local platform's one knob of its own: deployed functions never answer CORS (Hosting is same-origin)."""

    om_cors_origins: str = Field(DEFAULT_CORS_ORIGINS, validation_alias="OM_CORS_ORIGINS")


def cors_origins() -> list[str]:
    """OM_CORS_ORIGINS as exact origins (scheme://host:port); empty turns CORS off."""
    return [o.strip().rstrip("/") for o in CorsSettings().om_cors_origins.split(",") if o.strip()]


def create_app(platform):
    from flask import Flask, Response, request, send_from_directory
    from werkzeug.exceptions import HTTPException

    app = Flask("onlymanager-emulator")
    app.url_map.strict_slashes = False
    allowed = frozenset(cors_origins())

    @app.before_request
    def cors_preflight():
        # A listed origin's preflight is answered here: the functions themselves, like in the cloud, know no
        # OPTIONS. Anything else (no Origin, an unlisted one) goes on to the function and gets no CORS headers.
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin in allowed and request.headers.get("Access-Control-Request-Method"):
            resp = Response(status=204, headers={
                "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
                "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                "Access-Control-Max-Age": CORS_MAX_AGE,
            })
            del resp.headers["Content-Type"]  # no body
            return resp
        return None

    @app.after_request
    def cors_headers(resp):
        origin = request.headers.get("Origin")
        if origin and allowed:
            resp.vary.add("Origin")  # the answer differs by Origin: caches must not share it across origins
        if origin in allowed:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        return resp

    @app.route("/api/docs/", methods=["GET"])
    def docs():
        return Response(SWAGGER_HTML, content_type="text/html; charset=utf-8")

    @app.route("/api/docs/openapi.yaml", methods=["GET"])
    def openapi():
        return send_from_directory(ROOT, "openapi.yaml", mimetype="application/yaml")

    @app.route("/api/docs/assets/<path:name>", methods=["GET"])
    def docs_assets(name: str):
        if not (SWAGGER_UI_DIST / "swagger-ui-bundle.js").is_file():
            return problem_response(NotFound(f"Swagger UI assets missing ({SWAGGER_UI_DIST}): run `make node_modules`"))
        return send_from_directory(SWAGGER_UI_DIST, name)  # no CDN: the page works offline

    @app.route("/_emulator/drain", methods=["POST"])
    def drain():
        timeout = float(request.args.get("timeout", "30"))
        ok = platform.drain(timeout)
        return json_response(200 if ok else 504, {"drained": ok})

    @app.route("/_emulator/scheduler/<job>", methods=["POST"])
    def scheduler(job: str):
        raw = request.args.get("as_of")
        try:
            as_of = date.fromisoformat(raw) if raw else None
        except ValueError:
            return problem_response(BadRequest("as_of must be YYYY-MM-DD",
                                               errors=[{"loc": ["query", "as_of"], "msg": "must be YYYY-MM-DD"}]))
        try:
            n = platform.run_job(job, as_of)
        except KeyError:
            return problem_response(NotFound(f"unknown job {job}; known: {', '.join(sorted(registry.JOBS))}"))
        drained = platform.drain(float(request.args.get("timeout", "60")))
        return json_response(200, {"job": job, "as_of": raw, "subscribers": n, "drained": drained})

    @app.route("/_emulator/firestore/<path:document>", methods=["POST", "DELETE"])
    def firestore_write(document: str):
        """Write a document as the frontend would and deliver the Firestore trigger CloudEvent(s)."""
        from shared_lib import firestore

        new = None if request.method == "DELETE" else request.get_json(silent=True)
        if request.method == "POST" and not isinstance(new, dict):
            return problem_response(BadRequest("body must be a JSON object of document fields",
                                               errors=[{"loc": ["body"], "msg": "must be a JSON object"}]))
        old = None
        if firestore.enabled():
            ref = firestore.client().document(document)
            snap = ref.get()
            old = snap.to_dict() if snap.exists else None
            ref.delete() if new is None else ref.set(new)
        called = platform.deliver_document(document, new, old)
        drained = platform.drain(float(request.args.get("timeout", "30")))
        return json_response(200, {"document": document, "functions": called, "drained": drained})

    @app.errorhandler(HTTPException)
    def routing_problem(exc: HTTPException):
        # Werkzeug's own answers (its <path:> converter matches no newline: "/api/me/%0A") are HTML; the
        # Hosting rewrites and every function answer problem+json, so the local platform does too.
        err = NotFound(f"no function serves {request.path!r}") if exc.code == 404 else ApiError(exc.description)
        if exc.code != 404:
            err.status, err.slug, err.title = exc.code or 500, "http", exc.name
        return problem_response(err)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def dispatch(path: str):
        found = registry.route("/" + path)
        if found is None:
            return problem_response(NotFound(f"no function serves /{path}"))
        spec, _ = found
        return spec.entry_point(request)

    return app
