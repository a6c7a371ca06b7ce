"""Structured logging for the service: one JSON object per line, with national identity numbers removed.

Call sites log only what is safe (decision, codes, issuer, legal entity, timings); the filter below is
defence in depth: any 11-digit run in a message, an extra field or a traceback (an F/D-number, also spelled
``ddmmyy nnnnn``, ``ddmmyy-nnnnn`` or with other scripts' digits) is replaced."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson

from ..identifiers import redact_identity_numbers

_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def redact(value: Any) -> Any:
    if isinstance(value, str):
        # every spelling attest.identifiers.IDENTITY_NUMBER knows (shorter than 11 characters: none)
        return redact_identity_numbers(value, "[redacted]")
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _extras(record: logging.LogRecord) -> list[str]:
    """The names of the fields a call site added (``extra=``), in the order given."""
    return [k for k in record.__dict__ if k not in _STD]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        record.msg, record.args = redact(msg), None
        d = record.__dict__
        for k in _extras(record):
            v = d[k]
            # numbers, booleans and None cannot hold an identity number's spelling: left as they are
            if v is not None and type(v) not in (int, float, bool):
                d[k] = redact(v)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, then the call site's fields."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # the date part changes once a second: formatted once a second
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        d = record.__dict__
        for k in _extras(record):
            out[k] = d[k]
        if record.exc_text:
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        try:
            return orjson.dumps(out, default=str).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):  # what orjson refuses (e.g. integers beyond 64 bits)
            return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Route the ``attest`` and ``uvicorn`` loggers to stderr through the redacting filter."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("attest", "uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # its request line would carry query strings
