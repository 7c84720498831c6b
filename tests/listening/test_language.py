"""listening.language: which language a mention is in, or "" when that cannot be told.

Every sentence here was written for this test.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.language import (
    detect_language,
    detect_language_by_model,
    detect_languages,
    is_plainly_english,
    strip_for_detection,
)

SENTENCES = [
    ("en", "The replacement router still drops the connection every evening around nine"),
    ("en", "@acme thanks for the quick callback, the new sim works fine now 👍"),
    ("en", "why does your app log me out every single time I switch networks??"),
    ("en", "Waited two hours at the counter, nobody could tell us when the bus would come"),
    ("en", "no bars at all in the stadium tonight, couldn't even send a text"),
    ("es", "Desde el lunes no tengo cobertura en la oficina y nadie me responde"),
    ("es", "@acme ¿por qué me cobran una tarifa que nunca contraté? 😡"),
    ("es", "La atención en la tienda del centro fue estupenda, muy amables"),
    ("de", "Seit Montag funktioniert das Internet bei uns nur noch stundenweise"),
    ("de", "@acme warum wurde mir diese Gebühr berechnet? Das habe ich nie bestellt"),
    ("de", "Die Beratung im Laden war super freundlich, vielen Dank dafür"),
    ("fr", "Depuis lundi je n'ai plus de connexion au bureau et personne ne me répond"),
    ("fr", "@acme pourquoi ces frais sur ma facture ? Je n'ai jamais rien commandé"),
    ("fr", "L'accueil en boutique était parfait, merci beaucoup à toute l'équipe"),
    ("pt", "Desde segunda-feira não consigo usar a internet no escritório"),
    ("pt", "@acme por que cobraram essa taxa na minha conta? Nunca pedi isso"),
    ("it", "Da lunedì la connessione in ufficio non funziona e nessuno risponde"),
    ("it", "@acme perché mi avete addebitato questo costo? Non l'ho mai richiesto"),
    ("nl", "Sinds maandag werkt het internet op kantoor niet en niemand reageert"),
    ("nl", "@acme waarom staat deze kosten op mijn rekening? Dit heb ik nooit besteld"),
    ("sv", "Sedan i måndags fungerar inte internet på kontoret och ingen svarar"),
    ("pl", "Od poniedziałku internet w biurze nie działa i nikt nie odpowiada"),
    ("tr", "Pazartesiden beri ofiste internet çalışmıyor ve kimse cevap vermiyor"),
    ("ru", "С понедельника в офисе не работает интернет, и никто не отвечает"),
    ("el", "Από τη Δευτέρα δεν λειτουργεί το ίντερνετ στο γραφείο και κανείς δεν απαντά"),
    ("he", "מיום שני האינטרנט במשרד לא עובד ואף אחד לא עונה לי"),
    ("ar", "منذ يوم الاثنين لا يعمل الإنترنت في المكتب ولا أحد يرد"),
    ("ja", "月曜日からオフィスのインターネットが使えず、誰も対応してくれません"),
    ("zh", "从星期一开始办公室的网络就一直不能用，也没有人回复"),
    ("ko", "월요일부터 사무실 인터넷이 안 되는데 아무도 답변을 안 해요"),
]
CODE = re.compile(r"[a-z]{2,3}")


@pytest.mark.parametrize(("language", "text"), SENTENCES)
def test_it_detects_the_language_of_a_written_sentence(language: str, text: str) -> None:
    assert detect_language(text) == language
    assert detect_language_by_model(text) == language


@pytest.mark.parametrize(("language", "text"), [s for s in SENTENCES if s[0] != "en"])
def test_the_english_shortcut_never_takes_another_language(language: str, text: str) -> None:
    assert not is_plainly_english(strip_for_detection(text))


@pytest.mark.parametrize(
    "text",
    [
        "Me encantó el nuevo plan, the best and cheapest so far",  # 2 markers, not ASCII
        "Ik wil het abonnement opzeggen, was het maar zo simpel",  # Dutch "was", "het"
        "Jeg har en have og en hund, men ingen dækning",  # Danish "have" (garden)
        "Ich will nur dass es funktioniert, was ist so schwer daran",  # German "will", "was"
        "Salut, je suis fan de ton but hier soir, quel match",  # French "but" (goal)
    ],
)
def test_the_english_shortcut_ignores_words_other_languages_share(text: str) -> None:
    assert not is_plainly_english(strip_for_detection(text))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ok",
        "thanks!",
        "gracias",
        "lol",
        "😀😀😀 🔥🔥",
        "@acme",
        "@acme @globex @initech",
        "https://status.acme.example/incidents/42",
        "#acme #fail",
        "12345 67890 !!! ???",
        "@acme 👍 https://t.co/abc",
        "BOS-ORD 1234 SFO",
        # A mix of two languages, neither of them in the majority.
        "Der Empfang ist seit Tagen schlecht und niemand hilft mir weiter. Le réseau est "
        "coupé depuis hier soir et personne ne répond au service client.",
    ],
)
def test_it_is_unsure_of_short_or_wordless_or_mixed_text(text: str) -> None:
    assert detect_language(text) == ""
    assert detect_language_by_model(text) == ""


def test_it_strips_handles_urls_and_hashtag_signs_but_keeps_hashtag_words() -> None:
    stripped = strip_for_detection(
        "@acme @ann@mastodon.example read https://acme.example/the/news and www.acme.example "
        "#servicio"
    )
    assert stripped.split() == ["read", "and", "servicio"]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        # English-looking handles and URLs around a Spanish sentence.
        (
            "es",
            "@TheBestAndTheRest @you_and_your_plans La factura llegó otra vez duplicada "
            "https://www.example.com/the-and-you-with-this-that",
        ),
        # A handle and a URL full of German and French words around an English sentence.
        (
            "en",
            "@KundenServiceDeutschland https://beispiel.example/rechnung-und-vertrag-kuendigen "
            "@service_client_france the roaming charges on my bill are wrong again",
        ),
        ("fr", "#acmedown encore une coupure ce matin, #ras_le_bol de ce réseau #acme"),
    ],
)
def test_handles_and_urls_do_not_flip_the_result(language: str, text: str) -> None:
    assert detect_language(text) == language


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sentence=st.sampled_from(SENTENCES),
    handles=st.lists(st.from_regex(r"@[A-Za-z0-9_]{1,15}", fullmatch=True), max_size=4),
    urls=st.lists(
        st.from_regex(r"https?://[a-z]{1,10}\.example/[A-Za-z0-9/_-]{0,30}", fullmatch=True),
        max_size=2,
    ),
    data=st.data(),
)
def test_handles_and_urls_anywhere_between_words_do_not_flip_the_result(
    sentence: tuple[str, str], handles: list[str], urls: list[str], data: st.DataObject
) -> None:
    language, text = sentence
    words = text.split()
    for extra in handles + urls:
        words.insert(data.draw(st.integers(0, len(words))), extra)
    assert detect_language(" ".join(words)) == language


def test_a_batch_keeps_the_order_of_its_texts() -> None:
    texts = [text for _, text in SENTENCES] + ["", "ok"]
    texts = texts[::2] + texts[1::2]
    expected = [detect_language(text) for text in texts]

    assert detect_languages(texts) == expected
    assert detect_languages(tuple(texts)) == expected
    assert detect_languages([]) == []
    assert {"en", "es", "ja", ""} <= set(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("La factura\x00 llegó otra vez\x01 duplicada y nadie\x7f me responde", "es"),
        ("La factura llegó otra vez \ud800 duplicada y nadie me \udfff responde", "es"),
        ("La factura llegó otra vez\ufffe duplicada y nadie me responde\U0010ffff", "es"),
        ("La factura llegó\x85 otra vez duplicada y nadie me responde\x9f", "es"),
        ("\x00\ud800\ufffe\x1b", ""),
        ("\u200b\u200d\ufe0f\u2060", ""),
        ("e\u0301" * 50, ""),
    ],
)
def test_hostile_characters_are_dropped_not_raised(text: str, expected: str) -> None:
    assert detect_language(text) == expected
    assert detect_language_by_model(text) == expected


def test_a_megabyte_of_text_is_detected_quickly_from_its_start() -> None:
    text = "Die Rechnung ist schon wieder falsch und niemand ruft zurück. " * 17_000
    assert len(text) > 1_000_000

    started = time.perf_counter()
    assert detect_language(text) == "de"
    assert detect_language(text + "\ud800") == "de"
    assert detect_languages([text, "a" * 1_000_000]) == ["de", ""]
    assert time.perf_counter() - started < 0.5


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_any_text_gives_a_code_or_unsure_without_raising(text: str) -> None:
    result = detect_language(text)
    assert result == "" or CODE.fullmatch(result)
    assert detect_languages([text, text]) == [result, result]
    by_model = detect_language_by_model(text)
    assert by_model == "" or CODE.fullmatch(by_model)
