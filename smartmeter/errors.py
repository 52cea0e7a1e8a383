"""One shape for every API error: {"detail": ...}, field errors keyed by field."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ops.request_limits import API_PREFIX, form_fields_limit, too_large_message

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, RequestDataTooBig):  # form fields over DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = form_fields_limit(context["request"].path)
        return Response({"detail": too_large_message(limit)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, SuspiciousOperation):  # e.g. more form fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        logger.warning("Suspicious API request: %s", exc)
        exc = exceptions.ParseError("The request is malformed or exceeds a limit.")
    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: log it with the traceback, answer JSON instead of an HTML 500.
        logger.exception("Unhandled API error", exc_info=exc)
        return Response({"detail": "Internal error. It has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(data, list):
        response.data = {"detail": " ".join(str(item) for item in data)}
    elif isinstance(data, dict) and "detail" not in data:
        messages = []
        for field, errors in data.items():
            items = errors if isinstance(errors, list) else [errors]
            messages.append(f"{field}: {' '.join(str(e) for e in items)}")
        response.data = {"detail": "; ".join(messages), **data}
    return response


@csrf_exempt  # changes nothing; without it a POST or DELETE to a wrong path got CSRF's HTML 403, not this 404
def api_not_found(request, unknown=""):
    return JsonResponse({"detail": f"No API endpoint at /api/{unknown}."}, status=404)


def not_found(request, exception=None):
    """handler404: JSON under /api/ too when no route matched at all (the catch-all's `path`
    converter does not match a newline), Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


__all__ = ["Http404", "PermissionDenied", "api_exception_handler", "api_not_found", "not_found"]
