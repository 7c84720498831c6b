"""Routes of the case page, its actions and the author page (see engagement/urls/__init__.py)."""

from django.urls import path

from engagement.views import case as views

urlpatterns: list = [
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/claim/", views.case_claim, name="case-claim"),
    path("cases/<int:case_id>/release/", views.case_release, name="case-release"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case-assign"),
    path("cases/<int:case_id>/takeover/", views.case_takeover, name="case-takeover"),
    path("cases/<int:case_id>/status/", views.case_status, name="case-status"),
    path("cases/<int:case_id>/notes/", views.case_note, name="case-note"),
    path("cases/<int:case_id>/tags/", views.case_tags, name="case-tags"),
    path("cases/<int:case_id>/reply/", views.case_reply, name="case-reply"),
    path(
        "cases/<int:case_id>/reply/manual/",
        views.case_reply_manual,
        name="case-reply-manual",
    ),
    path(
        "cases/<int:case_id>/saved-replies/<int:saved_id>/",
        views.saved_reply_render,
        name="saved-reply-render",
    ),
    path("cases/<int:case_id>/presence/", views.case_presence, name="case-presence"),
    path(
        "cases/<int:case_id>/similar/reply/",
        views.case_similar_reply,
        name="case-similar-reply",
    ),
    path("replies/<int:reply_id>/retry/", views.reply_retry, name="reply-retry"),
    path("mentions/<int:mention_id>/correct/", views.mention_correct, name="mention-correct"),
    path("mentions/<int:mention_id>/explain/", views.mention_explain, name="mention-explain"),
    path("authors/<int:author_id>/", views.author_detail, name="author"),
]
