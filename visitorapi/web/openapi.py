"""The OpenAPI 3.1 description of the service (served at /openapi.json)."""
from visitorapi import __version__

_STRING_FIELDS = {
    "ipAddress": "the visitor's IP address as seen by the service",
    "countryCode": "ISO 3166-1 alpha-2 code",
    "countryName": "English short name of the country",
    "region": "state or region",
    "city": "city name (empty with a country-level database)",
    "cityLatLong": '"latitude,longitude" of the city, or ""',
    "browser": "browser family",
    "browserVersion": "browser version",
    "os": "operating system family",
    "osVersion": "operating system version",
    "deviceBrand": "device brand",
    "deviceModel": "device model",
    "deviceFamily": "device family",
    "timezone": "IANA time zone name",
    "continentCode": "two-letter continent code (AF AN AS EU NA OC SA)",
    "deviceType": "desktop, mobile, tablet, bot, ... or empty",
}

_ERROR_STATUSES = {
    "400": "malformed request (pid missing, repeated or malformed; an unsupported "
           "parameter; an invalid client address from a trusted proxy)",
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
    data_properties = {name: {"type": "string", "description": text}
                       for name, text in _STRING_FIELDS.items()}
    data_properties["currencies"] = {"type": "array", "items": {"type": "string"},
                                     "description": "ISO 4217 currency codes"}
    data_properties["languages"] = {"type": "array", "items": {"type": "string"},
                                    "description": "ISO 639-1 codes, most spoken first"}
    data_properties["isBot"] = {"type": "boolean", "description": "the client is a known bot"}
    pid = {"name": "pid", "in": "query", "required": True,
           "description": "the project id (exactly once)",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
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
            "parameters": [pid],
            "responses": {
                "200": {"description": "the visitor's information; no key is ever missing "
                                       "or null",
                        "headers": cors_headers,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Success"}}}},
                **{status: _error(text) for status, text in _ERROR_STATUSES.items()},
            },
        },
        "head": {"summary": "Same as GET without a body", "operationId": "headVisitor",
                 "parameters": [pid], "responses": {"200": {"description": "as GET"}}},
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
                                     "properties": data_properties}}},
            "Error": {"type": "object", "required": ["status", "result"],
                      "properties": {"status": {"type": "integer",
                                                "description": "equals the HTTP status"},
                                     "result": {"type": "string",
                                                "description": "what went wrong"}}},
        }},
    }
