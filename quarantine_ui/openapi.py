"""The OpenAPI 3.1 document of the JSON API, written as data (served at ``/api/openapi.json``).

A test compares it with the app's routes and with the status codes and fields the endpoints
really return, so it stays accurate as the API grows.
"""

from __future__ import annotations

import copy
from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "description": "The session's CSRF token, as returned by /api/login, /api/login/mfa or /api/me.",
    "schema": {"type": "string"},
}
_LOCKED = _error(
    "Account locked or client throttled after repeated failures (error `locked` or `throttled`); "
    "`Retry-After` and `retry_after` give the seconds to wait."
)

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Sekimori quarantine UI API",
        "version": "1",
        "description": (
            "JSON API of the Sekimori quarantine UI. Authentication is the session cookie set by "
            "/api/login (the same as the web pages). Every state-changing call inside a session "
            "needs the X-CSRF-Token header. Error bodies carry a stable `error` code and a "
            "`message` in the user's language (Japanese by default, `?lang=en` for English)."
        ),
    },
    "paths": {
        "/api/login": {
            "post": {
                "operationId": "login",
                "summary": "Check a password and start a session",
                "description": (
                    "Starts a new session (new cookie). When the account needs TOTP, the session "
                    "is only partly authenticated: status `mfa_required` (continue with "
                    "/api/login/mfa) or `mfa_enrolment_required` (enrol on the /mfa/enrol page). "
                    "Accepts only application/json."
                ),
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["address", "password"],
                        "properties": {"address": {"type": "string"}, "password": {"type": "string"}},
                    }
                ),
                "responses": {
                    "200": _json("Password accepted", {"$ref": "#/components/schemas/LoginStep"}),
                    "400": _error("Body is not a JSON object with string `address` and `password`"),
                    "401": _error("Wrong address or password (error `bad_credentials`)"),
                    "413": _error("Body larger than 16 KiB"),
                    "415": _error("Content-Type is not application/json"),
                    "429": _LOCKED,
                },
            }
        },
        "/api/login/mfa": {
            "post": {
                "operationId": "loginMfa",
                "summary": "Complete a login with a TOTP code",
                "description": "Replaces the session by a fully authenticated one (new cookie, new CSRF token).",
                "parameters": [_CSRF],
                "requestBody": _body(
                    {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}
                ),
                "responses": {
                    "200": _json("Logged in", {"$ref": "#/components/schemas/LoginStep"}),
                    "400": _error("Body is not a JSON object with a string `code`"),
                    "401": _error(
                        "No session waiting for a TOTP code (`not_logged_in`) or wrong code (`wrong_code`)"
                    ),
                    "403": _error("Missing or wrong CSRF token (error `csrf`)"),
                    "413": _error("Body larger than 16 KiB"),
                    "415": _error("Content-Type is not application/json"),
                    "429": _LOCKED,
                },
            }
        },
        "/api/logout": {
            "post": {
                "operationId": "logout",
                "summary": "End the session",
                "parameters": [_CSRF],
                "responses": {
                    "200": _json(
                        "Logged out",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "logged_out"}},
                        },
                    ),
                    "401": _error("No session (error `not_logged_in`)"),
                    "403": _error("Missing or wrong CSRF token (error `csrf`)"),
                },
            }
        },
        "/api/me": {
            "get": {
                "operationId": "me",
                "summary": "The logged-in user",
                "responses": {
                    "200": _json(
                        "The user of a fully authenticated session", {"$ref": "#/components/schemas/Me"}
                    ),
                    "401": _error(
                        "Not logged in (`not_logged_in`), or the TOTP step (`mfa_required`) or "
                        "enrolment (`mfa_enrolment_required`) is still due"
                    ),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": _json("OpenAPI 3.1 document", {"type": "object"})},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "description": "Stable error code"},
                    "message": {"type": "string", "description": "Human-readable, in the user's language"},
                    "retry_after": {"type": "integer", "description": "Seconds to wait (429 only)"},
                },
            },
            "User": {
                "type": "object",
                "required": ["address", "name", "roles", "mfa_enrolled", "via"],
                "properties": {
                    "address": {"type": "string"},
                    "name": {"type": "string"},
                    "roles": {
                        "type": "array",
                        "items": {"enum": ["approver", "auditor", "security_admin", "sender"]},
                    },
                    "mfa_enrolled": {"type": "boolean"},
                    "via": {"enum": ["password", "sso"]},
                },
            },
            "LoginStep": {
                "type": "object",
                "required": ["status", "csrf_token"],
                "properties": {
                    "status": {"enum": ["ok", "mfa_required", "mfa_enrolment_required"]},
                    "csrf_token": {"type": "string"},
                    "user": {"$ref": "#/components/schemas/User", "description": "Present when status is ok"},
                },
            },
            "Me": {
                "allOf": [
                    {"$ref": "#/components/schemas/User"},
                    {
                        "type": "object",
                        "required": ["csrf_token", "lang"],
                        "properties": {"csrf_token": {"type": "string"}, "lang": {"enum": ["ja", "en"]}},
                    },
                ]
            },
        }
    },
}


def document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document."""
    return copy.deepcopy(_DOCUMENT)
