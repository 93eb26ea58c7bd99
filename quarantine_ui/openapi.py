"""The OpenAPI 3.1 document of the JSON API, written as data (served at ``/api/openapi.json``).

A test compares it with the app's routes and with the status codes and fields the endpoints
really return, so it stays accurate as the API grows.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.auditexport import EXPORT_FIELDS

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
                    "via": {"enum": ["password", "totp", "sso"]},
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


_MAIL_ERRORS = {
    "401": _error("Not logged in, or the TOTP step is missing (`not_logged_in`, `mfa_required`)."),
    "403": _error("Not allowed for the caller's roles (`forbidden`), or the CSRF token is wrong (`csrf`)."),
    "404": _error(
        "No such message, or one the caller may not see (`not_found`): the two are not told apart."
    ),
    "503": _error("The UI runs without a message store or policy file (`no_store`, `no_policy`)."),
}
_ID = {"name": "msg_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}}
_OBJ: dict[str, Any] = {"type": "object"}
_MESSAGE = {"$ref": "#/components/schemas/Message"}


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Any],
    *,
    csrf: bool = False,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
    omit: tuple[str, ...] = (),
) -> dict[str, Any]:
    errors = {k: v for k, v in _MAIL_ERRORS.items() if k not in omit}
    if not any(p.get("in") == "path" for p in params or ()):
        errors.pop("404", None)
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": {**ok, **errors}}
    parameters = list(params or [])
    if csrf:
        parameters.append(_CSRF)
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = _body(body)
        op["responses"]["400"] = _error("Malformed body (`bad_request`, `justification_required`).")
        op["responses"]["413"] = _error("Body too large.")
        op["responses"]["415"] = _error("Body is not application/json.")
    op["responses"].update(extra or {})
    return op


_CONFLICT = {"409": _error("The message has moved on; the action no longer applies (`state_changed`).")}
_TEXT = {"type": "object", "properties": {"comment": {"type": "string", "maxLength": 2000}}}
_MAIL_PATHS: dict[str, Any] = {
    "/api/messages": {
        "get": _op(
            "listMyMessages",
            "The caller's own messages (sender role): held, pending, quarantined, refused, recent; and "
            "their uploads held back or approved (`kind: upload`)",
            {
                "200": _json(
                    "Messages",
                    {"type": "object", "properties": {"messages": {"type": "array", "items": _MESSAGE}}},
                )
            },
        )
    },
    "/api/messages/{msg_id}": {
        "get": _op(
            "getMessage",
            "One message the caller may see",
            {"200": _json("The message", _MESSAGE)},
            params=[_ID],
            omit=("403",),
        )
    },
    "/api/messages/{msg_id}/file": {
        "get": _op(
            "downloadUploadedFile",
            "The file of an upload, as a download (`Content-Disposition: attachment`, "
            "`application/octet-stream`); security admins only, each download an audit event "
            "(`raw_download`). Anyone else, and any message, gets 404.",
            {"200": {"description": "The file"}},
            params=[_ID],
            omit=("403",),
        )
    },
    "/api/messages/{msg_id}/{action}": {
        "post": _op(
            "actOnMessage",
            "cancel / send-now (its sender, while held); justify (its sender: body `justification`, "
            "asks the approver or the security team); approve / reject (a named or delegated approver, "
            "or a security admin; optional `comment`; the sender is told of a rejection); release / "
            "delete (security admin); proceed (an upload's user, after a warning: body `justification`; "
            "the same upload then passes for a while). An approved or released upload lets the same "
            "file from the same user to the same service and tenant pass. Every action is an audit "
            "event with the acting user.",
            {
                "200": _json(
                    "Done",
                    {"type": "object", "properties": {"status": {"const": "done"}, "message": _MESSAGE}},
                )
            },
            csrf=True,
            body={
                "type": "object",
                "properties": {
                    "comment": {"type": "string", "maxLength": 2000},
                    "justification": {"type": "string", "maxLength": 2000},
                },
            },
            params=[
                _ID,
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "enum": ["cancel", "send-now", "justify", "approve", "reject", "release", "delete"]
                    },
                },
            ],
            extra=_CONFLICT,
        )
    },
    "/api/approvals": {
        "get": _op(
            "listApprovals",
            "Requests waiting for the caller's approval, including those of people who delegated to them",
            {
                "200": _json(
                    "Requests",
                    {"type": "object", "properties": {"approvals": {"type": "array", "items": _MESSAGE}}},
                )
            },
        )
    },
    "/api/delegations": {
        "get": _op(
            "listDelegations", "Delegations in force, given and received", {"200": _json("Delegations", _OBJ)}
        ),
        "post": _op(
            "addDelegation",
            "Let `to` approve in the caller's place until the end of `until` (YYYY-MM-DD, local time)",
            {"201": _json("The delegation", _OBJ)},
            csrf=True,
            body={
                "type": "object",
                "required": ["to", "until"],
                "properties": {"to": {"type": "string"}, "until": {"type": "string", "format": "date"}},
            },
        ),
    },
    "/api/delegations/{ident}": {
        "delete": _op(
            "endDelegation",
            "End a delegation the caller gave",
            {"200": _json("Ended", _OBJ)},
            csrf=True,
            params=[{"name": "ident", "in": "path", "required": True, "schema": {"type": "integer"}}],
        )
    },
    "/api/queue": {
        "get": _op(
            "listQueue",
            "Every message in one state (security admin)",
            {"200": _json("Messages", _OBJ), "400": _error("Unknown state.")},
            params=[
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"enum": ["quarantined", "pending_approval", "held", "deferred"]},
                }
            ],
        )
    },
    "/api/search": {
        "get": _op(
            "search",
            "Messages and uploads (security admin), newest first: `q` (words that must all appear in "
            "the sender or user, subject or file name, recipients, destination or id), `kind` (mail, "
            "upload), `state`, `service`",
            {
                "200": _json(
                    "Matches",
                    {"type": "object", "properties": {"messages": {"type": "array", "items": _MESSAGE}}},
                ),
                "400": _error("Unknown kind or state."),
            },
            params=[
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {"name": "kind", "in": "query", "schema": {"enum": ["mail", "upload"]}},
                {"name": "state", "in": "query", "schema": {"type": "string"}},
                {"name": "service", "in": "query", "schema": {"type": "string"}},
            ],
        )
    },
    "/api/queue/bulk": {
        "post": _op(
            "bulkAction",
            "Release or delete many messages (security admin); the outcome per id",
            {"200": _json("Outcome per id", _OBJ)},
            csrf=True,
            body={
                "type": "object",
                "required": ["action", "ids"],
                "properties": {
                    "action": {"enum": ["release", "delete"]},
                    "ids": {"type": "array", "items": {"type": "string"}, "maxItems": 500},
                    "comment": {"type": "string"},
                },
            },
        )
    },
    "/api/policy": {
        "get": _op(
            "getPolicy",
            "The active policy text and its versions (security admin)",
            {"200": _json("Policy", _OBJ)},
        )
    },
    "/api/policy/{op}": {
        "post": _op(
            "policyOperation",
            "validate / simulate (over the last `limit` stored messages: which would change decision "
            "and why) / activate (as a new version, audited) the policy `text`; rollback to `version`",
            {
                "200": _json("Result", _OBJ),
                "422": _json("The policy is invalid; `errors` name line and field", _OBJ),
            },
            csrf=True,
            body={
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "comment": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                    "version": {"type": "integer"},
                },
            },
            params=[
                {
                    "name": "op",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": ["validate", "simulate", "activate", "rollback"]},
                }
            ],
        )
    },
    "/api/dashboard": {
        "get": _op(
            "dashboard",
            "Messages per action per day, uploads per service per day, top rules and top senders or "
            "users (of both), holds cancelled by senders, sharing changes stopped",
            {"200": _json("Figures", _OBJ)},
        )
    },
    "/api/audit": {
        "get": _op(
            "auditLog",
            "The newest matching audit events (auditor, security admin); filters actor, action, msg_id, since, until",
            {
                "200": _json(
                    "Events, newest first, and how many matched",
                    {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            "events": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
                        },
                    },
                )
            },
        )
    },
    "/api/audit/export": {
        "get": _op(
            "auditExport",
            "All matching audit events as JSONL (`format=jsonl`, one AuditEvent a line) or CSV"
            " (`format=csv`, a header of the AuditEvent field names, `extra` as JSON text)",
            {"200": {"description": "The export, as a download"}},
        )
    },
    "/api/audit/verify": {
        "get": _op(
            "auditVerify",
            "Verify the hash chain and the queue against it",
            {"200": _json("Verification", _OBJ)},
        )
    },
}
_LINK = {"$ref": "#/components/schemas/Link"}
_LINKS = {"type": "object", "properties": {"links": {"type": "array", "items": _LINK}}}
_MAIL_PATHS.update(
    {
        "/api/links": {
            "get": _op(
                "listMyLinks",
                "The download links made for the caller's own mail (sender role), open ones first",
                {"200": _json("Links", _LINKS)},
            )
        },
        "/api/admin/links": {
            "get": _op(
                "listOpenLinks",
                "Every open download link (security admin)",
                {"200": _json("Links", _LINKS)},
            )
        },
        "/api/links/{msg_id}/{action}": {
            "post": _op(
                "actOnLink",
                "revoke / extend / shorten a download link (its message's sender, or a security admin),"
                " also after the message was delivered. extend and shorten take `until` (ISO 8601 with a"
                " time zone): later, or earlier, than the current expiry, after now and at most 93 days"
                " after the link was made (else `bad_expiry`). Every action is an audit event with the"
                " acting user.",
                {
                    "200": _json(
                        "Done",
                        {"type": "object", "properties": {"status": {"const": "done"}, "link": _LINK}},
                    )
                },
                csrf=True,
                body={"type": "object", "properties": {"until": {"type": "string", "format": "date-time"}}},
                params=[
                    {**_ID, "description": "The link's id"},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["revoke", "extend", "shorten"]},
                    },
                ],
                extra={
                    "409": _error("The link is no longer open (`state_changed`)."),
                },
            )
        },
    }
)
_DOCUMENT["paths"].update(_MAIL_PATHS)
_DOCUMENT["components"]["schemas"]["Message"] = {
    "type": "object",
    "description": "A queued message or an upload as the UI shows it: redacted findings only, never raw values.",
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["mail", "upload"]},
        "upload": {
            "type": ["object", "null"],
            "description": "An upload's file name, service, host, tenant, destination, sharing scope "
            "(`anyone`, `organization`, `specific`) and, once approved, its pass (uses, used, "
            "granted_by, valid_until)",
        },
        "state": {"type": "string"},
        "sender": {"type": "string"},
        "subject": {"type": "string"},
        "recipients": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"address": {"type": "string"}, "external": {"type": "boolean"}},
            },
        },
        "release_at": {"type": ["string", "null"], "format": "date-time"},
        "attachments": {"type": "array", "items": {"type": "string"}},
        "findings": {"type": "array", "items": _OBJ},
        "rules": {"type": "array", "items": _OBJ},
        "records": {"type": "integer", "description": "distinct people whose data the message holds"},
        "organisations": {
            "type": "integer",
            "description": "distinct companies whose contact data it holds (not counted in records)",
        },
        "types": {"type": "array", "items": {"type": "string"}},
        "approvers": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": _OBJ},
    },
}

_DOCUMENT["components"]["schemas"]["Link"] = {
    "type": "object",
    "description": "A download link: one outside recipient's access to the attachments of one message.",
    "properties": {
        "id": {"type": "string"},
        "message": {"type": "string", "description": "the message it was made for"},
        "subject": {"type": "string"},
        "sender": {"type": "string"},
        "recipient": {"type": "string"},
        "state": {"enum": ["open", "expired", "revoked", "exhausted"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "downloads": {"type": "integer"},
        "max_downloads": {"type": "integer"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "size": {"type": "string"}},
            },
        },
        "actions": {"type": "array", "items": {"enum": ["revoke", "extend", "shorten"]}},
    },
}

_AUDIT_TYPES = {"seq": "integer", "extra": "object"}
_DOCUMENT["components"]["schemas"]["AuditEvent"] = {
    "type": "object",
    "description": "One audit event, in the schema of every export (API, UI download, `sekimori audit list`)",
    "required": list(EXPORT_FIELDS),
    "properties": {name: {"type": _AUDIT_TYPES.get(name, "string")} for name in EXPORT_FIELDS},
}


def document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document."""
    return copy.deepcopy(_DOCUMENT)
