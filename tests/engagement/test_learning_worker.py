"""Learning from corrections end to end through a real Celery worker (issue 13 §3): the
periodic dispatch finds the brand due, the worker trains and validates its model and
switches the brand, its mentions are relabelled in several batches (task runs), the rollups
equal a direct count afterwards, and a rollback restores the earlier labels."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import pytest

from engagement.learning import sentiment_model_roll_back
from engagement.routing import mentions_route
from engagement.tasks import sentiment_models_dispatch_task
from listening.brand_scoring import believed_active_forget
from listening.models import SentimentModel, SentimentRescore
from tests.engagement.conftest import acme, agent, social_source
from tests.engagement.learning_data import labelled_texts
from tests.engagement.test_learning import (
    correct_where_wrong,
    labels_of,
    recounted_standings,
    standings,
    store,
)
from tests.listening.test_rollups import direct_rows, stored_rows
from tests.listening.test_tasks import Worker, purge_broker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_real_worker_learns_switches_rescores_in_batches_and_rolls_back(
    acme, social_source, agent, settings
):
    believed_active_forget()
    training, fresh = labelled_texts(45), labelled_texts(15, start=45, seed=7)
    corrected, others = store(social_source, training), store(social_source, fresh)
    mentions_route()
    assert correct_where_wrong(acme, agent, corrected, training) == 45
    before, rollups_before, standings_before = labels_of(acme), stored_rows(), standings()
    assert rollups_before == direct_rows()

    purge_broker()
    worker = Worker([], EARSHOT_LEARN_MIN_CORRECTIONS="40", EARSHOT_LEARN_RESCORE_BATCH="16")
    try:
        sentiment_models_dispatch_task.delay()

        def switched():
            return SentimentModel.objects.filter(brand=acme, status="active").first()

        model = wait_for(switched, timeout=180)
        assert model.version == 1 and model.model_macro_f1 > model.care_macro_f1

        def relabelled():
            return SentimentRescore.objects.filter(model=model, status="done").first()

        rescore = wait_for(relabelled, timeout=120)
        # 60 matches, 16 per task run: four runs did the work.
        assert (rescore.done, rescore.total, rescore.batches) == (60, 60, 4)
        after = labels_of(acme)
        assert [after[m.pk] for m in others] == [label for _, label in fresh]
        assert all(after[m.pk] == before[m.pk] for m in corrected)  # corrections win
        assert stored_rows() == direct_rows() != rollups_before
        assert standings() == recounted_standings()

        # Nothing new is due: a second dispatch trains nothing.
        sentiment_models_dispatch_task.delay()
        back = sentiment_model_roll_back(brand_id=acme.pk, user=agent)

        def rolled_back():
            return SentimentRescore.objects.filter(pk=back.pk, status="done").first()

        wait_for(rolled_back, timeout=120)
        assert labels_of(acme) == before
        assert stored_rows() == rollups_before == direct_rows()
        assert standings() == standings_before
        assert SentimentModel.objects.filter(brand=acme).count() == 1
        model.refresh_from_db()
        assert model.status == "retired"
    finally:
        worker.stop()
