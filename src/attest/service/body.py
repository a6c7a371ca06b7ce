"""A JSON request body read and validated without FastAPI's dependency machinery, for the hot path.

``POST /v1/verify`` is called before every document-sharing request, and FastAPI's per-request dependency
resolution for a body model cost about a tenth of the service's time per request. :func:`json_body` does the
same job with the same outcome for every input: a body FastAPI would parse as JSON (``application/json``
or ``application/*+json``) is parsed (orjson, with the standard library's parser deciding anything orjson
refuses, so ``NaN`` and lone surrogates behave as before) and validated by the same pydantic model; errors
become the same :class:`~fastapi.exceptions.RequestValidationError` (locations under ``body``) or the same
400 for unparseable JSON, which the app's exception handlers turn into problem+json answers. One
deliberate difference: a body nested deeper than :data:`MAX_DEPTH` levels is always unparseable (400),
where FastAPI's limit depends on the parser's recursion limit and the depth of the call stack.
tests/service/test_body.py compares it with FastAPI's own handling on odd bodies.
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from ..jose import plain_json, too_deep

M = TypeVar("M", bound=BaseModel)

#: FastAPI's detail for a body it cannot parse (the app maps it to the malformed-json problem)
PARSE_ERROR = "There was an error parsing the body"


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test: main type ``application``, subtype ``json`` or ``*+json``."""
    if not content_type:
        return False
    if content_type.startswith("application/json"):  # the usual spelling, decided without the parser
        rest = content_type[16:]
        if not rest or rest[0] in "; ":
            return True
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


#: deeper bodies are refused as unparseable (FastAPI's limit is the parser's recursion limit, which depends
#: on the call stack; a verify body is two levels deep)
MAX_DEPTH = 256


def _loads(raw: bytes) -> Any:
    """Starlette's ``request.json()`` (``json.loads`` of the bytes) with FastAPI's error mapping: a JSON
    syntax error is a validation error of type ``json_invalid``; anything else (undecodable bytes, nesting
    too deep) is a 400 with FastAPI's detail."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        # orjson reads integers beyond 64 bits as floats; json.loads keeps them exact (and validation
        # says "too large", not "not an integer"): a body with a float (or too deep) is read again by
        # json.loads, and the depth decided below. orjson keeps the last of duplicate members silently: a body
        # is taken from it only when it provably has none (the colon count of attest.jose), else the strict
        # decoder decides
        if (plain_json(data, 1, MAX_DEPTH) if type(data) in (dict, list) else type(data) is not float) and \
                (type(data) not in (dict, list) or _no_duplicate_members(raw, data)):
            return data
    try:
        data = json.loads(raw, object_pairs_hook=_pairs)  # as Starlette's json.loads, plus the duplicate check
    except DuplicateMember:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": "duplicate member name"}}]) from None
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None
    except Exception as exc:  # as FastAPI: whatever else fails is an unparseable body
        raise HTTPException(400, PARSE_ERROR) from exc
    if type(data) in (dict, list) and too_deep(data, MAX_DEPTH):
        raise HTTPException(400, PARSE_ERROR)
    return data


class DuplicateMember(ValueError):
    """A JSON object names a member twice (refused, as in tokens: which value did the sender mean?)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise DuplicateMember("duplicate member name")
    return d


def _no_duplicate_members(raw: bytes, data: Any) -> bool:
    """True when ``raw`` provably names no member twice: re-serialising what was parsed writes one ``:`` per
    member kept plus the colons inside strings; the text has at least as many, and exactly as many only
    when no member was dropped (attest.jose._fast_json_object explains the count)."""
    colons = raw.count(b":")
    if b"\\" in raw:
        colons += raw.count(b"\\u003a") + raw.count(b"\\u003A")
    return orjson.dumps(data).count(b":") == colons


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``, or the exception FastAPI would raise for it."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    data: Any = _loads(raw) if _is_json(request.headers.get("content-type")) else raw
    try:
        # from_attributes: FastAPI validates body models this way (same error types and messages)
        return model.model_validate(data, from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None
