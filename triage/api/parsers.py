"""JSON in, bounded: nesting depth, NUL characters and invalid UTF-8 are a 400, never a 500.

PostgreSQL refuses NUL in text and in jsonb, and Python's parser recurses once per level, so
a body 5,000 levels deep raised RecursionError before this.
"""

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


class JSONTooDeep(ValueError):
    pass


def check_json_value(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Raise ValueError for a value nested deeper than max_depth or holding a NUL."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text may not contain NUL (\\u0000) characters")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > max_depth:
            raise JSONTooDeep(f"nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise ValueError("names may not contain NUL (\\u0000) characters")
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)
    return value


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses too deep nesting and NULs with ValueError."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise JSONTooDeep(f"nested deeper than {max_depth} levels") from exc
    return check_json_value(value, max_depth=max_depth)


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            from .errors import RequestTooLarge

            raise RequestTooLarge(f"The request body is larger than {limit:,} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("JSON parse error - the body is not valid UTF-8.") from exc
        try:
            return loads_bounded(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
