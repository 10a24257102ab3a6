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
