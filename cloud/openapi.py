"""The device API's OpenAPI 3.1 description, built from the shared contracts.

The intent body schema comes from the pydantic IntentMessage and the slot names from the data
map, so the description cannot drift from what the server enforces. Served at
/api/openapi.json; the fuzz tests read it to find every operation to attack.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify

from teddy.contracts import signing
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import MAX_BODY_BYTES, IntentMessage

bp = Blueprint("openapi", __name__)

SCHEMA_REF = "#/components/schemas/{model}"
SIGNATURE_HEADERS = {
    "DeviceId": (signing.HEADER_DEVICE, "The toy's device id, issued at pairing."),
    "Timestamp": (signing.HEADER_TIMESTAMP,
                  f"Unix seconds; refused more than {signing.MAX_CLOCK_SKEW_S} s from the "
                  "server's clock."),
    "Nonce": (signing.HEADER_NONCE, "16-64 characters [A-Za-z0-9_-], never reused."),
    "Signature": (signing.HEADER_SIGNATURE,
                  f"Lower-case hex HMAC-SHA256, keyed by the device secret, over "
                  f"{signing.REQUEST_V2}, METHOD, path, query string, Content-Type, "
                  "timestamp, nonce and hex SHA-256 of the body, joined by newlines."),
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# Every reply to an authentic signed request carries this; the toy ignores replies without it.
REPLY_SIGNED = {signing.HEADER_REPLY_SIGNATURE: {
    "description": f"Lower-case hex HMAC-SHA256, keyed by the device secret, over "
                   f"{signing.REPLY_V1}, the status code, the request's nonce, the request's "
                   "timestamp and hex SHA-256 of the reply body, joined by newlines.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}


def _signed(response: dict[str, Any]) -> dict[str, Any]:
    return {**response, "headers": REPLY_SIGNED}


# cloud/errors.py: the answer to a busy database or a full disk, on every operation.
UNAVAILABLE = _error_response(
    "The database is busy (code database_busy) or its disk is full (code storage_full); "
    "nothing was stored. A Retry-After header says how many seconds to wait.")


def _json_response(description: str, ref: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _intent_message_schema() -> dict[str, Any]:
    schema = copy.deepcopy(IntentMessage.model_json_schema(ref_template=SCHEMA_REF))
    sendable = sorted(name for name, rule in data_map().slots.items()
                      if rule.leaves_toy != "never")
    schema["properties"]["slots"]["propertyNames"] = {"enum": sendable}
    return schema


def _components() -> dict[str, Any]:
    policy = {
        "type": "object",
        "required": ["version", "purposes"],
        "properties": {
            "version": {"type": "integer", "minimum": 0},
            "purposes": {"type": "array", "items": {"enum": data_map().consentable_purposes}},
        },
    }
    return {
        "schemas": {
            "IntentMessage": _intent_message_schema(),
            "PairRequest": {
                "type": "object", "additionalProperties": False, "required": ["code"],
                "properties": {"code": {"type": "string", "maxLength": 32,
                                        "examples": ["ABCD-EF23"]}},
            },
            "PairResponse": {
                "type": "object", "required": ["device_id", "secret"],
                "properties": {"device_id": {"type": "string"},
                               "secret": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            },
            "Policy": policy,
            "Reply": {
                "type": "object", "required": ["reply", "personalised", "policy"],
                "properties": {"reply": {"type": "string"},
                               "personalised": {"type": "boolean"},
                               "policy": {"$ref": "#/components/schemas/Policy"}},
            },
            "Unpaired": {
                "type": "object", "required": ["unpaired", "kept"],
                "properties": {"unpaired": {"type": "string", "description": "The device id."},
                               "kept": {"type": "string"}},
            },
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"},
                               "problems": {"type": "array"},
                               "missing_purposes": {"type": "array",
                                                    "items": {"type": "string"}},
                               "limit_bytes": {"type": "integer"},
                               "server_time": {"type": "integer", "description":
                                               "With a clock refusal: the cloud's Unix time."},
                               "clock_skew_s": {"type": "integer", "description":
                                                "With a clock refusal: the toy's clock minus "
                                                "the cloud's, in seconds."},
                               "policy": {"$ref": "#/components/schemas/Policy"}},
            },
        },
        "securitySchemes": {
            name: {"type": "apiKey", "in": "header", "name": header, "description": text}
            for name, (header, text) in SIGNATURE_HEADERS.items()
        },
    }


SIGNED = [{name: [] for name in SIGNATURE_HEADERS}]
TOO_LARGE = _error_response(f"Body over {MAX_BODY_BYTES} bytes.")
UNAUTHENTICATED = _error_response(
    "Unsigned, forged, stale or replayed request, unknown device, or a message whose "
    "device_id is not the signing device. A correctly signed request whose timestamp is too "
    "far from the cloud's clock gets a signed reply with server_time and clock_skew_s.")


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/pair": {"post": {
            "operationId": "pair",
            "summary": "Exchange a parent's one-time pairing code for a device id and secret.",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/PairRequest"}}}},
            "responses": {
                "201": _json_response("Paired.", "PairResponse"),
                "401": _error_response("Unknown, used or expired pairing code."),
                "410": _error_response(
                    "The code was withdrawn after 25 wrong tries at it; the parent makes a "
                    "new one."),
                "413": TOO_LARGE,
                "422": _error_response("Body is not {\"code\": string}."),
                "429": _error_response(
                    "A wrong code from an address past its allowance of wrong codes in this "
                    "15-minute window (lower while all addresses together are past theirs); "
                    "a Retry-After header says how many seconds to wait. A correct code is "
                    "never refused this way."),
                "503": UNAVAILABLE,
            },
        }},
        "/api/v1/policy": {"get": {
            "operationId": "getPolicy",
            "summary": "The purposes the child's parent has consented to, with a version.",
            "security": SIGNED,
            "responses": {
                "200": _signed(_json_response("The current consent policy.", "Policy")),
                "401": UNAUTHENTICATED,
                "413": TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }},
        "/api/v1/unpair": {"post": {
            "operationId": "unpairDevice",
            "summary": "The toy asks to be forgotten: its key and the request numbers and "
                       "retry answers kept for it are deleted at once; what it sent about "
                       "the child stays for the parent to see or erase.",
            "security": SIGNED,
            "responses": {
                "200": _signed(_json_response("The toy is forgotten; its key no longer "
                                              "works.", "Unpaired")),
                "401": UNAUTHENTICATED,
                "413": TOO_LARGE,
                "422": _error_response("A body other than nothing or {}."),
                "503": UNAVAILABLE,
            },
        }},
        "/api/v1/intent/outcome": {"post": {
            "operationId": "intentOutcome",
            "summary": "What became of a message the toy sent without hearing back: the "
                       "stored reply, asked by message id alone.",
            "security": SIGNED,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "additionalProperties": False,
                           "required": ["message_id"],
                           "properties": {"message_id": {"type": "string",
                                                         "pattern": "^[0-9a-f]{32}$"}}}}}},
            "responses": {
                "200": _signed(_json_response("The reply stored when the message was "
                                              "answered.", "Reply")),
                "401": UNAUTHENTICATED,
                "403": _signed(_error_response(
                    "The consent the answer served was withdrawn; nothing is repeated.")),
                "404": _signed(_error_response(
                    "No answer on record (never arrived, expired or erased); nothing stored.")),
                "413": TOO_LARGE,
                "422": _error_response('Not {"message_id": "<32 hex digits>"}.'),
                "503": UNAVAILABLE,
            },
        }},
        "/api/v1/intent": {"post": {
            "operationId": "sendIntent",
            "summary": "Send one recognised intent with its slots; get a reply to speak.",
            "security": SIGNED,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/IntentMessage"}}}},
            "responses": {
                "200": _signed(_json_response("A reply, personalised only under consent.",
                                              "Reply")),
                "401": UNAUTHENTICATED,
                "403": _signed(_error_response(
                    "A purpose the message needs has no consent; nothing stored (R07). "
                    "Carries the current policy.")),
                "413": TOO_LARGE,
                "415": _error_response("Content-Type is not application/json."),
                "422": _error_response("Not JSON, not UTF-8, or not an IntentMessage: unknown "
                                       "fields, free text, binary or audio-like content."),
                "503": UNAVAILABLE,
            },
        }},
    }


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Teddy device API",
            "version": "1",
            "description": "What a paired toy may send and receive. Never audio, never free "
                           "text: only an allow-listed intent with typed, bounded slots.",
        },
        "paths": _paths(),
        "components": _components(),
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())
