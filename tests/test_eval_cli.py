"""`coach eval chat` and `coach eval sessions` run end to end on small labelled files."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from app.cli import cli


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_chat_reports_scope_and_citations(settings, tmp_path):
    chat = _write(tmp_path / "chat.jsonl", [
        {"id": "t1", "lang": "en", "text": "The buyer says we're 20% over the other quote. Do I drop my price?",
         "scope": "sales", "standards": ["s4.caution.1"], "qtype": "is_it_ok"},
        {"id": "t2", "lang": "en", "text": "How do I reset my VPN password?", "scope": "not_sales",
         "standards": [], "qtype": None},
        {"id": "t3", "lang": "zh", "text": "年假还剩几天在哪里查？", "scope": "not_sales", "standards": [],
         "qtype": None},
    ])
    result = CliRunner().invoke(cli, ["eval", "chat", str(chat), "--no-save", "--misses"])
    assert result.exit_code == 0, result.output
    assert "not_sales P/R" in result.output and "cite hit" in result.output
    assert re.search(r"^  all +3 ", result.output, re.MULTILINE)


def test_eval_sessions_plays_labelled_turns_and_checks_the_scorecard(settings, tmp_path):
    sessions = _write(tmp_path / "sessions.jsonl", [{
        "id": "s1", "scenario": "price-objection", "lang": "en", "turns": [
            {"text": "hi", "moves": [], "asks_fact": [], "kind": "greeting"},
            {"text": "How many parts do you buy a year?", "moves": ["open_question"], "asks_fact": ["volume"],
             "kind": "normal"},
            {"text": "Fine, I'll knock 10% off.", "moves": ["discount"], "asks_fact": [], "kind": "normal"},
        ]}])
    result = CliRunner().invoke(cli, ["eval", "sessions", str(sessions), "--no-save", "--errors", "--show", "s1"])
    assert result.exit_code == 0, result.output
    assert "1 sessions, 3 turns" in result.output
    assert "scorecard_inconsistencies" in result.output and "Customer:" in result.output


RECORDED_EN_TURNS = [  # the rep's messages of recordings 17-22, typed to the price-objection customer
    ("I hear you, a 20% gap is real money. What would your boss need to see to be ok with it?", ["acknowledge"]),
    ("Quick question - how many units a year do you need?", ["open_question"]),
    ("Here's the math: plants your size cut unplanned downtime by about 30% with our line, so the gap pays back in "
     "roughly 14 months.", ["value"]),
    ("Can I ask what happened the last time you switched suppliers?", ["probe"]),
    ("We can switch in stages - start on one line and keep X as backup till it's proven. If you sign for two years "
     "we'll add an on-site engineer at no charge.", ["concession"]),
    ("Shall I send you the contract and the staged changeover plan so you can take it to your CFO next week?",
     ["close"]),
]


def test_eval_sessions_with_a_model_scores_what_it_served_and_saves_its_raw_lines(settings, tmp_path, monkeypatch):
    from tests.replay import RECORDINGS, ReplayServer, load_recordings

    sessions = _write(tmp_path / "recorded.jsonl", [{
        "id": "r1", "scenario": "price-objection", "lang": "en", "turns": [
            {"text": text, "moves": moves, "asks_fact": [], "kind": "normal"} for text, moves in RECORDED_EN_TURNS]}])
    monkeypatch.setattr("app.roleplay.cli.ROOT", tmp_path)  # results go under tmp_path/evals/results
    with ReplayServer(load_recordings(RECORDINGS)) as replay:
        for name, value in (("COACH_LLM", "openai"), ("COACH_LLM_BASE_URL", replay.url), ("COACH_LLM_MODEL", "qwen")):
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(cli, ["eval", "sessions", str(sessions)])
    assert result.exit_code == 0, result.output
    assert "customer voice (openai)" in result.output
    results = tmp_path / "evals" / "results"
    saved = json.loads((results / "sessions-recorded-openai.json").read_text(encoding="utf-8"))
    raw = [json.loads(line) for line in (results / "sessions-recorded-openai.raw.jsonl").read_text(
        encoding="utf-8").splitlines()]
    played = [t for t in saved["played"][0]["turns"] if t["played"]]
    assert len(raw) == len(played) == saved["voice"]["model_calls"]  # one model call a turn, each kept raw
    refusals = [r for r in raw if r["raw"].startswith("I'm sorry, but I can't assist")]
    assert refusals and all(r["outcome"] == "replaced" and r["reason"] == "refusal or assistant-speak"
                            for r in refusals)
    assert saved["voice"]["replaced_reasons"]["refusal or assistant-speak"] == len(refusals)
    assert not any("can't assist" in t["customer"] for t in played)  # only checked lines reach the rep
    assert saved["voice"]["served_refusals_or_seller_voice"] == 0
    assert all(r["first_token_ms"] is not None and r["total_ms"] >= r["first_token_ms"] for r in raw)
