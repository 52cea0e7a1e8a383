"""One shape for every API error: {"detail": ...}, field errors keyed by field."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
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


def api_not_found(request, unknown=""):
    return JsonResponse({"detail": f"No API endpoint at /api/{unknown}."}, status=404)


__all__ = ["Http404", "PermissionDenied", "api_exception_handler", "api_not_found"]
