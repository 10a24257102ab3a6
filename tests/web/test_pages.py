"""Rep pages over the real app: sign-in, CSRF, language, chat (form and HTMX/SSE), standards, practice, scorecard."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from tests.web.conftest import csrf_of, sign_in_rep, web_settings

QUESTION = "The customer says we are 20% more expensive than the competitor. Should I give a discount?"
POST_FORMS = re.compile(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", re.S)


def _assert_forms_carry_csrf(html: str) -> None:
    forms = POST_FORMS.findall(html)
    assert forms and all('name="csrf"' in body for body in forms)


@pytest.mark.parametrize("path", ["/chat", "/standards", "/practice", "/practice/price-objection", "/attempts",
                                  "/sessions/abc", "/chat/conv_x"])
def test_rep_pages_send_a_stranger_to_say_who_they_are(web, path):
    response = web.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/hello?next={path}"


def test_saying_who_you_are_sets_a_signed_httponly_lax_cookie(web):
    token = csrf_of(web)
    response = web.post("/hello", data={"name": "  Amy   Li ", "csrf": token, "next": "/standards"},
                        follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/standards"
    cookie = response.headers["set-cookie"]
    assert "coach_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "Signed in as Amy Li" in web.get("/chat").text


def test_an_offsite_next_is_ignored(web):
    token = csrf_of(web)
    response = web.post("/hello", data={"name": "amy", "csrf": token, "next": "//evil.example/x"},
                        follow_redirects=False)
    assert response.headers["location"] == "/chat"


@pytest.mark.parametrize("data", [{}, {"csrf": "forged"}])
def test_a_post_without_the_sessions_csrf_token_is_refused(web, data):
    csrf_of(web)
    response = web.post("/hello", data={"name": "amy", **data}, follow_redirects=False)
    assert response.status_code == 403
    assert "did not come from this site" in response.text


def test_every_post_form_carries_the_csrf_token(rep):
    pages = ["/chat", "/practice/price-objection"]
    for path in pages:
        _assert_forms_carry_csrf(rep.get(path).text)
    rep.post("/chat", data={"message": QUESTION, "csrf": rep.csrf})
    start = rep.post("/practice/price-objection", data={"lang": "en", "csrf": rep.csrf})
    _assert_forms_carry_csrf(start.text)


@pytest.mark.parametrize(("header", "lang", "title"), [("zh-CN,zh;q=0.9", "zh-CN", "你是谁？"),
                                                         ("en-GB", "en", "Who are you?")])
def test_the_page_language_follows_the_browser(web, header, lang, title):
    page = web.get("/hello", headers={"Accept-Language": header})
    assert f'<html lang="{lang}">' in page.text and title in page.text
    assert page.headers["content-language"] == lang[:2]


def test_the_language_toggle_sets_a_cookie_that_wins(web):
    response = web.get("/lang/zh?next=/hello", headers={"Accept-Language": "en"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/hello"
    assert "coach_lang=zh" in response.headers["set-cookie"]
    assert "你是谁？" in web.get("/hello", headers={"Accept-Language": "en"}).text
    assert web.get("/lang/fr").status_code == 404


def test_asking_without_javascript_redirects_to_the_conversation(rep):
    response = rep.post("/chat", data={"message": QUESTION, "csrf": rep.csrf}, follow_redirects=False)
    assert response.status_code == 303
    conversation = re.match(r"^/chat/(conv_\w+)#a-(msg_\w+)$", response.headers["location"])
    assert conversation
    page = rep.get(f"/chat/{conversation.group(1)}").text
    assert QUESTION in page and "<details" in page and "s4.caution.1" in page
    assert f'value="{conversation.group(1)}"' in page  # a follow-up stays in this conversation
    assert f'href="/chat/{conversation.group(1)}"' in rep.get("/chat").text  # listed among past conversations
    follow = rep.post("/chat", data={"message": "What if they still insist?", "csrf": rep.csrf,
                                     "conversation_id": conversation.group(1)}, follow_redirects=False)
    assert follow.headers["location"].startswith(f"/chat/{conversation.group(1)}#")
    assert rep.get(f"/chat/{conversation.group(1)}").text.count('class="msg answer"') == 2


def test_asking_with_htmx_streams_the_answer_into_a_live_region(rep):
    response = rep.post("/chat", data={"message": QUESTION, "csrf": rep.csrf}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.text
    assert 'aria-live="polite"' in response.text and 'hx-swap-oob="true"' in response.text
    stream_url = re.search(r'sse-connect="([^"]+)"', response.text).group(1)
    assert response.headers["HX-Push-Url"].startswith("/chat/conv_")
    stream = rep.get(stream_url)
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"^event: (\w+)$", stream.text, re.M)
    assert events[0] == "delta" and events[-1] == "done" and events.count("done") == 1
    done = stream.text.split("event: done\n", 1)[1]
    assert "<details" in done and 'name="csrf"' in done and "sse-connect" not in done


def test_rating_an_answer_with_a_comment(rep):
    location = rep.post("/chat", data={"message": QUESTION, "csrf": rep.csrf}, follow_redirects=False)
    message_id = location.headers["location"].rsplit("#a-", 1)[1]
    fragment = rep.post(f"/chat/answers/{message_id}/feedback", headers={"HX-Request": "true"},
                        data={"rating": "down", "comment": "too vague", "csrf": rep.csrf})
    assert fragment.status_code == 200 and "trainer will see" in fragment.text
    report = rep.app.state.container.chat.unanswered()  # the trainers' report (its route needs a trainer token)
    assert report[0]["question"] == QUESTION and report[0]["comments"] == ["too vague"]
    assert rep.post(f"/chat/answers/{message_id}/feedback", data={"rating": "meh", "csrf": rep.csrf}).status_code \
        == 422


def test_a_rep_cannot_open_another_reps_conversation_or_session(rep):
    location = rep.post("/chat", data={"message": QUESTION, "csrf": rep.csrf}, follow_redirects=False)
    conversation = location.headers["location"].split("#")[0]
    message_id = location.headers["location"].rsplit("#a-", 1)[1]
    session = rep.post("/practice/price-objection", data={"lang": "en", "csrf": rep.csrf}, follow_redirects=False)
    session_url = session.headers["location"]
    sign_in_rep(rep, "bo")
    assert rep.get(conversation).status_code == 404
    assert rep.get(f"/chat/answers/{message_id}/stream").status_code == 404
    assert rep.get(session_url).status_code == 404
    assert rep.get(f"{session_url}/scorecard").status_code == 404


def test_the_standards_page_lists_six_stages_with_ask_and_practise_links(rep):
    page = rep.get("/standards").text
    assert len(re.findall(r'<section id="stage-\d"', page)) == 6
    assert 'id="s4.caution.1"' in page and "/practice?standard=s4.caution.1" in page and "/chat?q=" in page
    filtered = rep.get("/practice?standard=s4.caution.1").text
    assert "/practice/price-objection" in filtered


def test_practice_from_briefing_to_scorecard(rep):
    catalogue = rep.get("/practice").text
    assert "/practice/price-objection" in catalogue and "Wang Lei" in catalogue
    briefing = rep.get("/practice/price-objection").text
    assert 'name="difficulty"' in briefing and 's4.caution.1' in briefing
    start = rep.post("/practice/price-objection", data={"lang": "en", "difficulty": "easy", "csrf": rep.csrf},
                     follow_redirects=False)
    session = start.headers["location"]
    page = rep.get(session).text
    assert page.count("<meter") == 3 and 'aria-live="polite"' in page
    fragment = rep.post(f"{session}/turns", headers={"HX-Request": "true"},
                        data={"message": "I understand. What is the 20% compared against?", "csrf": rep.csrf})
    assert fragment.status_code == 200 and 'id="meters"' in fragment.text and "hx-swap-oob" in fragment.text
    assert "s4.standard.2" in fragment.text  # the per-turn hint
    plain = rep.post(f"{session}/turns", data={"message": "OK, 10% off then.", "csrf": rep.csrf},
                     follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"{session}#latest"
    rep.post("/prefs/hints", data={"hints": "off", "next": session, "csrf": rep.csrf})
    assert 'class="hints"' not in rep.get(session).text
    end = rep.post(f"{session}/end", data={"csrf": rep.csrf}, follow_redirects=False)
    assert end.headers["location"] == f"{session}/scorecard"
    card = rep.get(f"{session}/scorecard").text
    assert "How the score was reached" in card and "<q>OK, 10% off then.</q>" in card
    assert 'href="/standards#s4.caution.1"' in card and "Try again" in card
    assert rep.get(session, follow_redirects=False).headers["location"] == f"{session}/scorecard"
    attempts = rep.get("/attempts").text
    assert attempts.count(f'href="{session}/scorecard"') == 3  # first, best and latest are this one


def test_a_blank_message_is_a_400_page(rep):
    response = rep.post("/chat", data={"message": "   ", "csrf": rep.csrf})
    assert response.status_code == 400 and "type a question first" in response.text and "<html" in response.text


def test_rep_tokens_replace_names(tmp_path, usem3_index):
    from fastapi.testclient import TestClient

    settings = web_settings(tmp_path, usem3_index, rep_tokens="amy:tok-amy-1234, bo:tok-bo-5678")
    with TestClient(create_app(settings), headers={"Accept": "text/html"}) as client:
        page = client.get("/hello").text
        assert 'name="token"' in page and 'name="name"' not in page
        token = csrf_of(client)
        bad = client.post("/hello", data={"token": "nope", "csrf": token})
        assert bad.status_code == 400 and "not valid" in bad.text
        client.post("/hello", data={"token": "tok-bo-5678", "csrf": token})
        assert "Signed in as bo" in client.get("/chat").text


@pytest.mark.parametrize("secret", ["changeme", "secret", "short"])
def test_the_service_refuses_a_placeholder_session_secret(tmp_path, secret):
    with pytest.raises(ValidationError, match="COACH_SESSION_SECRET is a placeholder"):
        Settings(data_dir=tmp_path, session_secret=secret)


def test_malformed_rep_tokens_stop_the_service(tmp_path):
    with pytest.raises(ValidationError, match="COACH_REP_TOKENS must be"):
        Settings(data_dir=tmp_path, rep_tokens="just-a-token")


def test_docs_are_served_from_vendored_files(web):
    for path, asset in (("/docs", "/static/vendor/swagger-ui-bundle.js"),
                        ("/redoc", "/static/vendor/redoc.standalone.js")):
        page = web.get(path).text
        assert asset in page
        assert not re.search(r"(src|href)=\"https?://", page), path
        assert "fonts.googleapis" not in page
    assert web.get("/static/vendor/swagger-ui.css").status_code == 200


def test_pages_reference_nothing_outside_the_service(rep):
    for path in ("/chat", "/standards", "/practice", "/practice/price-objection", "/attempts", "/hello"):
        page = rep.get(path)
        assert not re.search(r"(src|href|action)=\"(https?:)?//", page.text), path
        assert "default-src 'self'" in page.headers["content-security-policy"]
