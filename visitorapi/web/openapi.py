"""The OpenAPI 3.1 description of the service (served at /openapi.json)."""
from visitorapi import __version__, pids
from visitorapi.web import answer

_SCHEMAS = {
    "string": {"type": "string"},
    "strings": {"type": "array", "items": {"type": "string"}},
    "boolean": {"type": "boolean"},
    "integer-or-null": {"type": ["integer", "null"]},
    "currencies": {"type": "array", "items": {
        "type": "object", "required": ["code", "name", "symbol"],
        "properties": {"code": {"type": "string", "description": "ISO 4217 code"},
                       "name": {"type": "string", "description": "English name"},
                       "symbol": {"type": "string", "description": "symbol, e.g. €"}}}},
}

_ERROR_STATUSES = {
    "400": "malformed request (pid missing, repeated or malformed; fields empty, repeated "
           "or naming an unknown field; an unsupported parameter; an invalid client address "
           "from a trusted proxy)",
    "403": "not authorized: unknown pid, disabled project, or an origin the project "
           "does not list (one answer for all three)",
    "404": "unknown path",
    "405": "wrong method",
    "429": "rate limited; see Retry-After",
    "503": "not ready: no IP database is loaded, or the project list cannot be read",
}


def _error(description):
    return {"description": description,
            "headers": {"Vary": {"schema": {"type": "string", "const": "Origin"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _alias(operations: dict, suffix: str) -> dict:
    """The same operations under another path, with their operationIds suffixed.

    OpenAPI 3.1 requires every operationId to be unique in the document
    (code generators name methods after them), so ``/api`` cannot reuse
    ``/api/``'s operations as they are.
    """
    return {method: {**operation, "operationId": operation["operationId"] + suffix}
            for method, operation in operations.items()}


def document() -> dict:
    """Return the OpenAPI 3.1 document as a dict."""
    data_properties = {name: {**_SCHEMAS[kind], "description": text}
                       for name, kind, text in answer.FIELDS}
    pid = {"name": "pid", "in": "query", "required": True,
           "description": "the project id (exactly once)",
           "schema": {"type": "string", "pattern": f"^{pids.PATTERN}$"}}
    fields = {"name": "fields", "in": "query", "required": False, "style": "form",
              "explode": False,
              "description": "keep only these members of data (comma-separated); an unknown "
                             "name is a 400 that names it",
              "schema": {"type": "array", "items": {"type": "string", "enum": list(answer.NAMES)}}}
    cors_headers = {
        "Access-Control-Allow-Origin": {"description": "the request's exact Origin",
                                        "schema": {"type": "string"}},
        "Vary": {"schema": {"type": "string", "const": "Origin"}},
    }
    api = {
        "get": {
            "summary": "Information about the calling visitor",
            "description": "Called from the visitor's browser on an authorized site. The "
                           "Origin header (or, without it, the Referer's origin) must match "
                           "one of the project's authorized domains.",
            "operationId": "getVisitor",
            "parameters": [pid, fields],
            "responses": {
                "200": {"description": "the visitor's information; no key is null but an "
                                       "unknown asn, and none is missing unless fields= "
                                       "leaves it out",
                        "headers": cors_headers,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Success"}}}},
                **{status: _error(text) for status, text in _ERROR_STATUSES.items()},
            },
        },
        "head": {"summary": "Same as GET without a body", "operationId": "headVisitor",
                 "parameters": [pid, fields], "responses": {"200": {"description": "as GET"}}},
        "options": {
            "summary": "CORS preflight",
            "operationId": "preflightVisitor",
            "parameters": [pid],
            "responses": {
                "204": {"description": "an authorized origin asking for GET or HEAD with "
                                       "only CORS-safelisted headers",
                        "headers": {**cors_headers,
                                    "Access-Control-Allow-Methods": {
                                        "schema": {"type": "string", "const": "GET, HEAD"}},
                                    "Access-Control-Max-Age": {
                                        "schema": {"type": "string", "const": "7200"}}}},
                "403": {"description": "anything else; no CORS headers"},
            },
        },
    }
    plain = {"type": "object", "required": ["status", "result"],
             "properties": {"status": {"type": "integer"}, "result": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "visitorapi", "version": __version__,
                 "description": "Self-hostable, privacy-first visitor-information API. "
                                "Nothing about a visitor is stored or logged.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "paths": {
            "/api/": api,
            "/api": _alias(api, "WithoutSlash"),
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                                 "responses": {"200": {"description": "the process answers",
                                                       "content": {"application/json": {
                                                           "schema": plain}}}}}},
            "/readyz": {"get": {"summary": "Readiness: database loaded, store reachable",
                                "operationId": "readyz",
                                "responses": {"200": {"description": "ready"},
                                              "503": _error("not ready")}}},
            "/.well-known/security.txt": {"get": {
                "summary": "RFC 9116 security contact", "operationId": "securityTxt",
                "responses": {"200": {"description": "security.txt",
                                      "content": {"text/plain": {}}},
                              "404": _error("no contact configured")}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/client.js": {"get": {"summary": "The VisitorAPI(pid, onSuccess, onError) client",
                                   "operationId": "clientJs",
                                   "responses": {"200": {"description": "JavaScript",
                                                         "content": {"text/javascript": {}}}}}},
        },
        "components": {"schemas": {
            "Success": {"type": "object", "required": ["status", "result", "data"],
                        "properties": {
                            "status": {"type": "integer", "const": 200},
                            "result": {"type": "string", "const": "ok"},
                            "data": {"type": "object", "required": sorted(data_properties),
                                     "additionalProperties": False,
                                     "description": "every member below, never null but "
                                                    "asn (a request with fields= gets only "
                                                    "those it names)",
                                     "properties": data_properties}}},
            "Error": {"type": "object", "required": ["status", "result"],
                      "properties": {"status": {"type": "integer",
                                                "description": "equals the HTTP status"},
                                     "result": {"type": "string",
                                                "description": "what went wrong"}}},
        }},
    }
