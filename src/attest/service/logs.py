"""Structured logging for the service: one JSON object per line, with national identity numbers removed.

Call sites log only what is safe (decision, codes, issuer, legal entity, timings); the filter below is
defence in depth: any 11-digit run in a message or an extra field (an F/D-number) is replaced."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

_ELEVEN = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")
_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _ELEVEN.sub("[redacted]", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        record.msg, record.args = redact(msg), None
        for k, v in list(vars(record).items()):
            if k not in _STD:
                setattr(record, k, redact(v))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                   + f".{int(record.msecs):03d}Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD:
                out[k] = v
        if record.exc_text:
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
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
