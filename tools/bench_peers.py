"""The apps ``bench_service.py`` compares visitorapi with (benchmark only; not shipped).

- ``hello``: the smallest WSGI app, the ceiling for any app under the same
  gunicorn settings;
- ``flask_peer``: the conventional way to build the same service: Flask +
  flask-cors + maxminddb (the C-accelerated MaxMind DB reader), doing the
  same work per request: pid and origin check, client IP from the right of
  X-Forwarded-For, database lookup, country facts, user-agent parse, JSON.

Both are importable by gunicorn (``tools.bench_peers:hello``,
``tools.bench_peers:peer``); the peer reads BENCH_MMDB, BENCH_PID and
BENCH_ORIGIN from the environment.
"""
import os


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def create_flask_peer(mmdb_path, pid, origin):
    """Return the Flask + flask-cors + maxminddb app serving /api/ like visitorapi."""
    import maxminddb
    from flask import Flask, jsonify, request
    from flask_cors import CORS

    from visitorapi.countries import country_facts
    from visitorapi.useragent import parse

    app = Flask("flask_peer")
    CORS(app, origins=[origin], methods=["GET", "HEAD"], max_age=7200)
    reader = maxminddb.open_database(mmdb_path, maxminddb.MODE_MMAP_EXT)
    projects = {pid: {origin}}

    @app.route("/api/", methods=["GET", "HEAD"])
    @app.route("/api", methods=["GET", "HEAD"])
    def api():
        allowed = projects.get(request.args.get("pid", ""))
        if not allowed or request.headers.get("Origin") not in allowed:
            return jsonify(status=403, result="not authorized"), 403
        forwarded = request.headers.get("X-Forwarded-For")
        ip = forwarded.rsplit(",", 1)[-1].strip() if forwarded else request.remote_addr
        record = reader.get(ip) or {}
        code = record.get("country_code") or ""
        facts = country_facts(code) if code else None
        ua = parse(request.headers.get("User-Agent", ""))
        lat, lon = record.get("latitude"), record.get("longitude")
        data = {
            "ipAddress": ip, "countryCode": code,
            "countryName": facts.name if facts else "",
            "currencies": list(facts.currencies) if facts else [],
            "languages": list(facts.languages) if facts else [],
            "region": record.get("state1") or "", "city": record.get("city") or "",
            "cityLatLong": f"{lat},{lon}" if lat is not None and lon is not None else "",
            **{key: ua[key] for key in ("browser", "browserVersion", "os", "osVersion",
                                        "deviceBrand", "deviceModel", "deviceFamily")},
            "timezone": record.get("timezone") or "",
            "continentCode": facts.continent_code if facts else "",
            "deviceType": ua["deviceType"], "isBot": ua["isBot"],
        }
        response = jsonify(status=200, result="ok", data=data)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "Origin"
        return response

    return app


def __getattr__(name):
    # PEP 562: gunicorn loads "tools.bench_peers:peer" lazily from the environment.
    if name == "peer":
        global peer
        peer = create_flask_peer(os.environ["BENCH_MMDB"], os.environ["BENCH_PID"],
                                 os.environ["BENCH_ORIGIN"])
        return peer
    raise AttributeError(name)
