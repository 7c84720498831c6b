from django.apps import AppConfig


class TrackingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracking"
    verbose_name = "Tracked links and conversions"

    def ready(self) -> None:
        # {link:<code>} in saved replies: engagement renders saved replies but may not import
        # this app (arrows point down), so the function is handed to it here.
        from engagement.services import saved_reply_function_register
        from tracking.services import saved_reply_link

        saved_reply_function_register("link", saved_reply_link)
