"""The local platform's WSGI app: every registry HTTP function routed as the Hosting rewrites, Swagger UI, admin."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from shared_lib import registry
from shared_lib.errors import BadRequest, NotFound
from shared_lib.http import json_response, problem_response

ROOT = Path(__file__).resolve().parent.parent
SWAGGER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>OnlyManager Economy API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/docs/openapi.yaml", dom_id: "#swagger-ui"});</script>
</body></html>"""


def create_app(platform):
    from flask import Flask, Response, request, send_from_directory

    app = Flask("onlymanager-emulator")
    app.url_map.strict_slashes = False

    @app.route("/api/docs/", methods=["GET"])
    def docs():
        return Response(SWAGGER_HTML, content_type="text/html; charset=utf-8")

    @app.route("/api/docs/openapi.yaml", methods=["GET"])
    def openapi():
        return send_from_directory(ROOT, "openapi.yaml", mimetype="application/yaml")

    @app.route("/api/docs/assets/<path:name>", methods=["GET"])
    def docs_assets(name: str):
        import swagger_ui_bundle  # the assets ship in a PyPI package: no CDN

        return send_from_directory(swagger_ui_bundle.swagger_ui_path, name)

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

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def dispatch(path: str):
        found = registry.route("/" + path)
        if found is None:
            return problem_response(NotFound(f"no function serves /{path}"))
        spec, _ = found
        return spec.entry_point(request)

    return app
