"""The OpenAPI document declares every error answer of every operation (triage.api.errors)."""

ERROR_SCHEMA = {
    "type": "object",
    "description": "One error shape for every error answer. A 400 also keeps a key per "
    "field with its messages; other errors keep `detail` (and `state`/`status` for a 409, "
    "`incident` for a 422).",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "A top-level input field."},
                    "path": {
                        "type": "string",
                        "description": "A place inside the body, e.g. students.0.student_id.",
                    },
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["code", "message"],
            },
        },
        "detail": {"type": "string"},
    },
    "required": ["errors"],
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Invalid input: each problem with its field or path.",
    "401": "No credentials, or a wrong token.",
    "403": "Signed in, but not allowed (no role at that school, not a district admin).",
    "404": "Nothing here that you may see (or a page number past the last page).",
    "405": "This method is not allowed here.",
    "406": "The Accept header asks for a format this API does not answer in.",
    "409": "The current state does not allow this action.",
    "413": "The request body is too large.",
    "415": "The body's Content-Type is not JSON or a form.",
    "422": "An Idempotency-Key already used with a different body.",
    "429": "Too many requests; Retry-After says how many seconds to wait.",
}
WRITE_METHODS = {"post", "put", "patch"}


def _codes(method: str, path: str, operation: dict) -> set[str]:
    codes = {"401", "403", "405", "406", "429"}
    if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", [])):
        codes.add("404")  # an object you may not see, or a page past the end
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if method in WRITE_METHODS:
        codes |= {"400", "413", "415"}
    elif has_query:
        codes.add("400")
    if "409" in operation.get("responses", {}):
        codes.add("409")
    if method == "post" and path.rstrip("/").endswith("/incidents"):
        codes.add("422")
    return codes


def error_responses_postprocess(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in sorted(_codes(method, path, operation)):
                operation["responses"][code] = {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ref}},
                }
    return result
