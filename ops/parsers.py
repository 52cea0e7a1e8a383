"""The API's JSON parser: DRF's, refusing bodies nested deeper than REQUEST_MAX_JSON_DEPTH
with a 400 before json.loads can hit Python's recursion limit (a 500)."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from ops.request_limits import json_nesting_exceeds, too_deep_message


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text (byte {exc.start}).") from None
        limit = settings.REQUEST_MAX_JSON_DEPTH
        if json_nesting_exceeds(text, limit):
            raise ParseError(too_deep_message(limit))
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # only if the depth limit is set above what the interpreter allows
            raise ParseError(too_deep_message(limit)) from None
