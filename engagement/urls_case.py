"""Routes of urls_case (see engagement/urls.py): the case page, its actions, the author page."""

from django.urls import path

from engagement import views_case

urlpatterns: list = [
    path("cases/<int:case_id>/", views_case.case_detail, name="case"),
    path("cases/<int:case_id>/claim/", views_case.case_claim, name="case-claim"),
    path("cases/<int:case_id>/release/", views_case.case_release, name="case-release"),
    path("cases/<int:case_id>/assign/", views_case.case_assign, name="case-assign"),
    path("cases/<int:case_id>/takeover/", views_case.case_takeover, name="case-takeover"),
    path("cases/<int:case_id>/status/", views_case.case_status, name="case-status"),
    path("cases/<int:case_id>/notes/", views_case.case_note, name="case-note"),
    path("cases/<int:case_id>/tags/", views_case.case_tags, name="case-tags"),
    path("cases/<int:case_id>/reply/", views_case.case_reply, name="case-reply"),
    path(
        "cases/<int:case_id>/reply/manual/",
        views_case.case_reply_manual,
        name="case-reply-manual",
    ),
    path(
        "cases/<int:case_id>/saved-replies/<int:saved_id>/",
        views_case.saved_reply_render,
        name="saved-reply-render",
    ),
    path("cases/<int:case_id>/presence/", views_case.case_presence, name="case-presence"),
    path(
        "cases/<int:case_id>/similar/reply/",
        views_case.case_similar_reply,
        name="case-similar-reply",
    ),
    path("replies/<int:reply_id>/retry/", views_case.reply_retry, name="reply-retry"),
    path("mentions/<int:mention_id>/correct/", views_case.mention_correct, name="mention-correct"),
    path("mentions/<int:mention_id>/explain/", views_case.mention_explain, name="mention-explain"),
    path("authors/<int:author_id>/", views_case.author_detail, name="author"),
]
