"""clean_text / item_text: the plain text items are stored, matched and scored as."""

import timeit

import pytest

from listening.text import clean_text, item_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("plain words  here\n", "plain words here"),
        ("<b>bold</b> and <i>italic</i>", "bold and italic"),
        ("line one<br>line two<br/>three", "line one line two three"),
        (
            "<p>first</p><p>second</p><div>third</div><ul><li>a</li><li>b</li></ul>",
            "first second third a b",
        ),
        ("AT&amp;T &#8217;s caf&eacute; &#x263A;", "AT&T \u2019s caf\u00e9 \u263a"),
        ("before<script>alert('x < y')</script>after", "before after"),
        ("a<style>p { color: red }</style>b<noscript>enable js</noscript>c", "a b c"),
        ("x <iframe src='e'>fallback</iframe> y <object>obj</object> z", "x y z"),
        ("<template><p>hidden</p></template>shown", "shown"),
        ("text <script>never closed", "text"),
        ("<!-- a comment -->visible<!-- unclosed", "visible"),
        ("<b>unclosed", "unclosed"),
        ("a < b and 5 > 3", "a < b and 5 > 3"),
        ("fish & chips & more", "fish & chips & more"),
        ("I <3 it", "I <3 it"),
        ('<a href="x" title="a>b">link</a> text', "link text"),
        ("&lt;b&gt;escaped tag stays text&lt;/b&gt;", "<b>escaped tag stays text</b>"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # NFC: e + combining acute -> é
        ("bell\x07 and\x00 nul\x1b", "bell and nul"),
        ("nbsp\u00a0here\u2028and\tthere", "nbsp here and there"),
        ("<![CDATA[x]]>kept", "kept"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_clean_text_is_fast() -> None:
    # A 50-word HTML snippet must cost a few microseconds, not tens: the ingest budget is per item.
    snippet = (
        "<p>We tried the new <b>Acme</b> phone &amp; honestly the battery is great, "
        "but the camera app crashes every time I open it.</p><p>Support said they&#8217;d "
        "look into it but nobody called back yet, three days later. Not impressed at all, "
        "<a href='https://example.com/x'>see the thread</a> for details and screenshots.</p>"
    )
    plain = "the battery is great but the camera app crashes every time I open it " * 3
    n = 2000
    html_us = timeit.timeit(lambda: clean_text(snippet), number=n) / n * 1e6
    plain_us = timeit.timeit(lambda: clean_text(plain), number=n) / n * 1e6
    # Generous bounds so a loaded CI box does not flake; typical is ~8 µs and ~1 µs.
    assert html_us < 60
    assert plain_us < 15


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Title", "Body text.", "Title. Body text."),
        ("Title", "", "Title"),
        ("", "<p>Body</p>", "Body"),
        ("", "", ""),
        ("Big news", "Big news: the rest of the story", "Big news: the rest of the story"),
        ("Really?", "Yes.", "Really? Yes."),
        ("Note:", "details", "Note: details"),
        ("Wait\u2026", "more", "Wait\u2026 more"),
        ("<b>Caf&eacute;</b>", "<p>open &amp; busy</p>", "Caf\u00e9. open & busy"),
    ],
)
def test_item_text(title: str, body: str, expected: str) -> None:
    assert item_text(title, body) == expected
