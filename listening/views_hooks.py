"""The signed webhook endpoint: POST /hooks/<token>/ (see push_services for the rules)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from listening.models import Source
from listening.push_services import (
    webhook_delivery_receive,
    webhook_delivery_too_large,
    webhook_delivery_unreadable,
    webhook_max_bytes,
)


@csrf_exempt  # Senders are servers authenticated by the HMAC signature, not browsers.
@require_POST
def webhook_receive(request: HttpRequest, token: str) -> JsonResponse:
    # Unknown, disabled and non-webhook tokens all answer the same 404 and record nothing:
    # nobody learns more about a token than that it does not work.
    source = (
        Source.objects.select_related("brand")
        .filter(token=token, kind=Source.Kind.WEBHOOK, is_enabled=True)
        .first()
    )
    if source is None:
        return JsonResponse({"error": "not found"}, status=404)

    limit = webhook_max_bytes()
    length = request.META.get("CONTENT_LENGTH") or ""
    try:
        declared = int(length or 0)
    except ValueError:
        result = webhook_delivery_unreadable(
            source=source, status=400, message="invalid Content-Length"
        )
        return JsonResponse(result.body, status=result.status)
    if declared > limit:
        # Refused before reading a byte of the body.
        result = webhook_delivery_too_large(source=source, size=declared)
        return JsonResponse(result.body, status=result.status)
    if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads a body without Content-Length as empty. A server that decodes chunked
        # bodies itself says so with wsgi.input_terminated (gunicorn does): read to the end,
        # never more than the limit. Anywhere else the body cannot be read safely.
        if not request.META.get("wsgi.input_terminated"):
            result = webhook_delivery_unreadable(
                source=source,
                status=411,
                message="send a Content-Length: this server cannot read chunked bodies",
            )
            return JsonResponse(result.body, status=result.status)
        body = request.META["wsgi.input"].read(limit + 1)
    else:
        # Read from the stream, not request.body: the limit here is ours, whatever
        # DATA_UPLOAD_MAX_MEMORY_SIZE says, and one byte more than the limit tells a body
        # that lied about its length.
        body = request.read(limit + 1)
    if len(body) > limit:
        result = webhook_delivery_too_large(source=source, size=None)
        return JsonResponse(result.body, status=result.status)

    result = webhook_delivery_receive(
        source=source,
        body=body,
        timestamp=request.headers.get("X-Earshot-Timestamp"),
        signature=request.headers.get("X-Earshot-Signature"),
    )
    return JsonResponse(result.body, status=result.status)
