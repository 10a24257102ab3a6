from app.coaching.render import render_answer

ANSWER = {
    "answer": (
        "Add value before you discount. [s4.caution.1]\n\n**What to do**\n- Define your bottom line first. "
        "[s4.standard.1]\n\n**Avoid**\n- Cutting the price at once. [s4.caution.1]\n\n"
        "_Based on: s4.caution.1 Don't cut the price easily; s4.standard.1 Flexible negotiation_"
    ),
    "citations": [
        {"id": "s4.caution.1", "title": "Don't cut the price easily", "text": "…"},
        {"id": "s4.standard.1", "title": "Flexible negotiation", "text": "…"},
    ],
    "language": "en",
}


def test_render_answer_turns_markdown_into_terminal_text():
    assert render_answer(ANSWER) == (
        "Add value before you discount. [1]\n\n\x1b[1mWhat to do\x1b[0m\n  • Define your bottom line first. [2]\n\n"
        "\x1b[1mAvoid\x1b[0m\n  • Cutting the price at once. [1]\n\n\x1b[1mSources\x1b[0m\n"
        "  [1] s4.caution.1  Don't cut the price easily\n  [2] s4.standard.1  Flexible negotiation"
    )


def test_render_answer_drops_citations_it_cannot_list_and_keeps_other_brackets():
    rendered = render_answer({"answer": "Ask first [s9.caution.9], then offer [a pilot].", "citations": [],
                              "language": "zh"})
    assert rendered == "Ask first, then offer [a pilot]."
