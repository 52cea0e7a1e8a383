"""OpenAPI post-processing: document the error answers every endpoint can give.

All API errors share one body, {"detail": "..."} (smartmeter.errors), yet views only
declare their success responses. Without these, a client generated from the schema
(or a conformance checker) treats a 401, a 404 or a 429 as undocumented.
"""

ERROR_COMPONENT = "ErrorDetail"
_ERRORS = {
    "400": "The request is invalid; `detail` says why (field errors are keyed by field).",
    "401": "Authentication is missing or the token is invalid or expired.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object, or it is not yours.",
    "405": "The method is not allowed here.",
    "406": "The requested content type cannot be produced.",
    "409": "The object already exists.",
    "415": "The request body's content type is not supported.",
    "429": "Too many requests; retry after the number of seconds in `Retry-After`.",
}


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_COMPONENT] = {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "additionalProperties": True,
    }
    error_content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _ERRORS.items():
                responses.setdefault(status, {"description": description, "content": error_content})
            if "429" in responses:
                responses["429"].setdefault(
                    "headers", {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
                )
    return result


def install_schema_extensions() -> None:
    """Describe fields drf-spectacular cannot introspect, so `check --deploy` (which
    generates the schema) stays free of warnings. Loaded from OpsConfig.ready()."""
    from drf_spectacular.extensions import OpenApiSerializerFieldExtension

    class AmountFieldExtension(OpenApiSerializerFieldExtension):
        # A money amount accepted as a JSON number or a numeric string (billing validates it).
        target_class = "billing.serializers.AmountField"

        def map_serializer_field(self, auto_schema, direction):
            return {"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}]}

    return AmountFieldExtension
