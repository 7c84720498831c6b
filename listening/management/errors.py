"""What the management commands print for a ValidationError."""

from django.core.exceptions import ValidationError


def validation_message(exc: ValidationError) -> str:
    """One line: "field: message; other: message" (or the plain messages)."""
    if hasattr(exc, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
            for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)
