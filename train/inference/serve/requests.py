"""What a ``/predict`` request may hold, and reading and checking it: every refusal a `RequestError` with its status."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import Request

LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # what JSON escapes such as \ud800 decode to; no text holds one
JSON_SLACK = 4096  # bytes of a request body beyond its texts: keys, brackets, whitespace


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a message naming what is wrong (and the limit, for 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_chars: int = 2000
    max_texts: int = 500

    @property
    def max_body_bytes(self) -> int:
        """The largest body a valid request can have: every character written as a 6-byte JSON escape."""
        return self.max_texts * (self.max_chars * 6 + 8) + JSON_SLACK


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; a 413 `RequestError` as soon as it is longer than ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request body has {int(declared)} bytes; the limit is {limit} "
                           "(from --max-texts and --max-chars)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body is over {limit} bytes, the limit (from --max-texts and --max-chars)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_texts(body: bytes, limits: Limits) -> list[str]:
    """The texts of a ``/predict`` body: ``{"text": "..."}`` or ``{"texts": ["...", ...]}``.

    Not JSON (or not UTF-8, or nested too deeply to read): 400. Not one of those shapes, an empty text or one
    holding a lone surrogate: 422. More than ``max_texts`` texts or a
    text over ``max_chars`` characters: 413. Each message says what to send instead.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc}); send {{\"text\": \"...\"}} or "
                           "{\"texts\": [\"...\", ...]}") from None
    except RecursionError:
        raise RequestError(400, "the body is JSON nested too deeply to read; send {\"text\": \"...\"} or "
                           "{\"texts\": [\"...\", ...]}") from None
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise RequestError(400, f"the body is not JSON this server reads ({exc}); send {{\"text\": \"...\"}} or "
                           "{\"texts\": [\"...\", ...]}") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"the body must be a JSON object, got {type(data).__name__}; send {{\"text\": \"...\"}} "
                           "or {\"texts\": [\"...\", ...]}")
    unknown = sorted(set(data) - {"text", "texts"})
    if unknown:
        raise RequestError(422, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           "send {\"text\": \"...\"} or {\"texts\": [\"...\", ...]}")
    if ("text" in data) == ("texts" in data):
        raise RequestError(422, "give either 'text' (one string) or 'texts' (a list of strings), not "
                           + ("both" if data else "neither"))
    if "text" in data:
        texts, names = [data["text"]], ["'text'"]
    else:
        texts = data["texts"]
        if not isinstance(texts, list):
            raise RequestError(422, f"'texts' must be a list of strings, got {type(texts).__name__}")
        if not texts:
            raise RequestError(422, "'texts' is empty; give at least one text")
        if len(texts) > limits.max_texts:
            raise RequestError(413, f"{len(texts)} texts in one request; the limit is {limits.max_texts} (--max-texts): "
                               "send them in several requests")
        names = [f"texts[{i}]" for i in range(len(texts))]
    for name, text in zip(names, texts):
        if not isinstance(text, str):
            raise RequestError(422, f"{name} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise RequestError(422, f"{name} is empty; there is nothing to classify in it")
        surrogate = LONE_SURROGATE.search(text)
        if surrogate:
            raise RequestError(422, f"{name} holds a lone surrogate (\\u{ord(surrogate.group()):04x} at character {surrogate.start()}), "
                               "half of a UTF-16 pair and not a character; send the whole pair or the character itself")
        if len(text) > limits.max_chars:
            raise RequestError(413, f"{name} has {len(text)} characters; the limit is {limits.max_chars} (--max-chars)")
    return texts
