"""Turn coach output into safe Slack messages (mrkdwn text plus Block Kit) and Slack input into plain text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

SECTION_LIMIT = 2900  # Slack rejects section text over 3000 characters
MAX_CITATIONS = 5
FEEDBACK_ACTIONS = {"feedback_up": "up", "feedback_down": "down"}

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_SLACK_TOKEN = re.compile(r"<((?:[@#!]|https?://|mailto:)[^<>]*)>")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "sources": "Sources",
        "helpful": "Was this helpful?",
        "degraded": "Offline answer: the language model was unavailable, so this is composed from the standards.",
        "thanks_up": "Thanks — your 👍 is recorded.",
        "thanks_down": "Thanks — your 👎 is recorded; a trainer will review this answer.",
        "feedback_gone": "That answer is no longer on record, so the rating was not saved.",
        "rate_limited": "You've asked {limit} questions in the last minute. Please wait about {wait} s and ask again.",
        "empty": "Ask me a sales question, for example: _The customer says we're too expensive — what do I do?_",
        "too_long": "That message is longer than {limit} characters; please shorten it and ask again.",
        "failed": "Sorry, I couldn't answer just now. Please try again in a minute.",
        "looking": "Looking that up…",
        "you_asked": "You asked",
        "rp_title": "Role-play",
        "rp_intro": "{user} is practising. Reply in this thread as the sales rep; say `end` to get the scorecard.",
        "rp_starting": "Starting the role-play _{title}_…",
        "rp_unknown": "There is no scenario `{scenario}`. Choose one of: {choices}",
        "rp_usage": "Usage: `/coach roleplay <scenario> [zh|en] [easy|normal|hard]`. Scenarios: {choices}",
        "rp_cannot_post": "I can't post in this channel. Invite me with `/invite @Sales Coach`, or run the command "
                          "in a direct message with me.",
        "rp_ended": "This role-play has ended. Start a new one with `/coach roleplay <scenario>`.",
        "rp_failed": "Sorry, that turn didn't go through. Please send your message again.",
        "feedback": "Coach's notes",
        "state": "Turn {turn}/{max_turns} · trust {trust} · patience {patience} · progress {progress}",
        "scorecard": "Scorecard",
        "score": "Score: *{score}/100*",
        "outcome": "Outcome: {outcome}",
        "strengths": "Strengths",
        "improvements": "To improve",
        "rubric": "Rubric",
        "turn": "turn {turn}",
        "help_title": "Sales Coach — what I can do",
        "help_body": (
            "• *Ask in a channel:* mention me with your question; I answer in the thread. Reply in the thread to "
            "follow up.\n"
            "• *Ask privately:* send me a direct message, or `/coach <question>` (only you see the answer).\n"
            "• *Practise:* `/coach roleplay <scenario> [zh|en] [easy|normal|hard]` posts the customer's opening; "
            "reply in its thread, and say `end` (or `结束`) for the scorecard.\n"
            "• Rate answers with 👍/👎 — trainers review them.\n"
            "• `/coach help` shows this message (`/coach 帮助` in Chinese)."
        ),
        "scenarios": "Scenarios",
        "scenario_line": "`{id}` — {title} (stage {stage}, {difficulty})",
    },
    "zh": {
        "sources": "来源",
        "helpful": "这个回答有帮助吗？",
        "degraded": "离线回答：语言模型暂不可用，以下内容直接由标准条目组成。",
        "thanks_up": "谢谢，已记录你的 👍。",
        "thanks_down": "谢谢，已记录你的 👎，培训师会复查这条回答。",
        "feedback_gone": "这条回答已不在记录中，评价没有保存。",
        "rate_limited": "你一分钟内已经问了 {limit} 个问题，请大约 {wait} 秒后再问。",
        "empty": "请问一个销售问题，例如：_客户嫌我们贵，怎么办？_",
        "too_long": "消息超过 {limit} 个字符，请缩短后再问。",
        "failed": "抱歉，暂时无法回答，请一分钟后再试。",
        "looking": "正在查找……",
        "you_asked": "你的问题",
        "rp_title": "角色扮演",
        "rp_intro": "{user} 正在练习。请以销售的身份在本帖中回复；输入 `结束` 查看评分卡。",
        "rp_starting": "正在开始角色扮演《{title}》……",
        "rp_unknown": "没有场景 `{scenario}`。可选场景：{choices}",
        "rp_usage": "用法：`/coach roleplay <场景> [zh|en] [easy|normal|hard]`。可选场景：{choices}",
        "rp_cannot_post": "我无法在这个频道发消息。请用 `/invite @Sales Coach` 邀请我，或在与我的私信中使用该命令。",
        "rp_ended": "这场角色扮演已结束。用 `/coach roleplay <场景>` 开始新的一场。",
        "rp_failed": "抱歉，这一轮没有成功，请重新发送你的消息。",
        "feedback": "教练点评",
        "state": "第 {turn}/{max_turns} 轮 · 信任 {trust} · 耐心 {patience} · 进展 {progress}",
        "scorecard": "评分卡",
        "score": "得分：*{score}/100*",
        "outcome": "结果：{outcome}",
        "strengths": "做得好的",
        "improvements": "需要改进",
        "rubric": "评分项",
        "turn": "第{turn}轮",
        "help_title": "销售教练——我能做什么",
        "help_body": (
            "• *在频道提问：* @我 并写下问题，我会在帖子里回答；在帖子里回复即可继续追问。\n"
            "• *私下提问：* 给我发私信，或使用 `/coach <问题>`（只有你能看到回答）。\n"
            "• *练习：* `/coach roleplay <场景> [zh|en] [easy|normal|hard]` 会发出客户的开场白；"
            "在该帖子里回复，输入 `结束`（或 `end`）查看评分卡。\n"
            "• 用 👍/👎 评价回答，培训师会复查。\n"
            "• `/coach 帮助` 显示本说明（英文用 `/coach help`）。"
        ),
        "scenarios": "场景",
        "scenario_line": "`{id}` — {title}（阶段 {stage}，{difficulty}）",
    },
}
VERDICT_ICON = {"followed": "✅", "violated": "⚠️", "missed": "➖"}


def t(lang: str, key: str, **values: object) -> str:
    """Return the interface string `key` in `lang` (English for anything else), filled with `values`."""
    return TEXT.get(lang, TEXT["en"])[key].format(**values)


def escape(text: str) -> str:
    """Escape &, < and > for Slack and defuse @channel/@here/@everyone, so no text can ping or inject markup."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A zero-width space after "@" keeps the word readable but stops Slack from treating it as a broadcast.
    return _BROADCAST.sub("@\u200b\\1", text)


def mention(user: str) -> str:
    """Return a user mention, only for a well-formed Slack user id (never a broadcast)."""
    return f"<@{user}>" if _USER_ID.match(user) else escape(user)


def plain_from_slack(text: str, bot_user_id: str | None = None) -> str:
    """Turn Slack message markup into plain text: drop the bot's mention, unwrap links, unescape entities."""

    def unwrap(match: re.Match[str]) -> str:
        body = match.group(1)
        target, _, label = body.partition("|")
        if target.startswith("@"):
            return "" if target[1:] == bot_user_id else f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            # <!channel>, <!here>, <!subteam^ID|@team>: keep a readable word, never the broadcast markup.
            return label or f"@{target[1:].split('^')[0]}"
        return label or target

    text = _SLACK_TOKEN.sub(unwrap, text)
    # A NUL cannot be stored in PostgreSQL text and never matters in a question.
    return html.unescape(text).replace("\x00", "").strip()


def to_mrkdwn(markdown: str) -> str:
    """Convert the coach's Markdown-ish answer (bullets, **bold**, headings) into escaped Slack mrkdwn."""
    lines = []
    for line in escape(markdown).splitlines():
        heading = _HEADING.match(line)
        if heading:
            line = f"*{heading.group(1).strip()}*"
        line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
        line = _BOLD.sub(r"*\1*", line)
        # Keep link targets visible as text; Slack will not unfurl them (posts set unfurl_* to false).
        line = _MD_LINK.sub(r"\1 (\2)", line)
        lines.append(line)
    return "\n".join(lines).strip()


def _chunks(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split text at line breaks into pieces no longer than `limit`."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces or [""]


def sections(mrkdwn: str) -> list[dict[str, Any]]:
    """Return section blocks holding `mrkdwn`, split to respect Slack's size limit."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in _chunks(mrkdwn) if piece]


def context(mrkdwn: str) -> dict[str, Any]:
    """Return a context block (small grey text)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:SECTION_LIMIT]}]}


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def citation_lines(citations: Iterable[Any]) -> list[str]:
    """Return up to MAX_CITATIONS escaped lines `• id — title`, one per distinct standard."""
    seen: set[str] = set()
    lines = []
    for citation in citations:
        cid = str(getattr(citation, "id", ""))
        if not cid or cid in seen:
            continue
        seen.add(cid)
        lines.append(f"• `{escape(cid)}` {escape(_shorten(str(getattr(citation, 'title', '')), 80))}")
        if len(lines) == MAX_CITATIONS:
            break
    return lines


def answer_message(result: Any, question: str | None = None) -> dict[str, Any]:
    """Return text and blocks for a chat answer: the answer, a short source list, 👍/👎 buttons."""
    lang = getattr(result, "language", "en")
    body = to_mrkdwn(result.answer)
    blocks: list[dict[str, Any]] = []
    if question is not None:
        blocks.append(context(f"{t(lang, 'you_asked')}: {escape(_shorten(question, 300))}"))
    blocks += sections(body)
    sources = citation_lines(result.citations)
    if sources:
        blocks.append(context(f"*{t(lang, 'sources')}*\n" + "\n".join(sources)))
    if getattr(result, "degraded", False):
        blocks.append(context(t(lang, "degraded")))
    blocks.append({
        "type": "actions",
        "block_id": f"coach_feedback:{lang}",
        "elements": [
            {"type": "button", "action_id": action, "value": result.message_id,
             "text": {"type": "plain_text", "text": "👍" if rating == "up" else "👎", "emoji": True}}
            for action, rating in FEEDBACK_ACTIONS.items()
        ],
    })
    blocks.append(context(t(lang, "helpful")))
    fallback = body if len(body) <= 3000 else body[:2999] + "…"
    if sources:
        fallback += f"\n{t(lang, 'sources')}:\n" + "\n".join(sources)
    return {"text": fallback, "blocks": blocks}


def customer_name(scenario: dict[str, Any], lang: str) -> str:
    """Return the customer's name from a scenario summary (its persona line starts with the name)."""
    persona = str(scenario.get("persona", {}).get(lang, ""))
    return persona.split(",")[0].strip() or ("客户" if lang == "zh" else "Customer")


def opening_message(start: dict[str, Any], user: str, lang: str) -> dict[str, Any]:
    """Return the role-play's first message: title, instructions and the customer's opening line."""
    scenario = start["scenario"]
    title = escape(scenario["title"].get(lang, scenario["id"]))
    persona = escape(scenario.get("persona", {}).get(lang, ""))
    name = escape(customer_name(scenario, lang))
    head = f"🎭 *{t(lang, 'rp_title')}: {title}*"
    intro = t(lang, "rp_intro", user=mention(user))
    line = f"*{name}:* {escape(start['customer'])}"
    blocks = [*sections(head), context(f"{persona}\n{intro}"), *sections(line)]
    return {"text": f"{head}\n{intro}\n{line}", "blocks": blocks}


def _feedback_lines(feedback: list[dict[str, Any]]) -> list[str]:
    return [f"{VERDICT_ICON.get(item['verdict'], '•')} `{escape(item['id'])}` {escape(item['title'])} — "
            f"{escape(item['note'])}" for item in feedback]


def turn_message(reply: dict[str, Any], name: str, lang: str) -> dict[str, Any]:
    """Return the customer's reply, the coach's per-turn feedback and the conversation state."""
    line = f"*{escape(name)}:* {escape(reply['customer'])}"
    blocks = sections(line)
    notes = _feedback_lines(reply.get("feedback", []))
    if notes:
        blocks += sections(f"*{t(lang, 'feedback')}*\n" + "\n".join(notes))
    state = reply.get("state") or {}
    if state:
        blocks.append(context(t(lang, "state", turn=state.get("turn", "?"), max_turns=state.get("max_turns", "?"),
                                trust=state.get("trust", "?"), patience=state.get("patience", "?"),
                                progress=f"{state.get('progress', 0)}%")))
    text = line + ("\n" + "\n".join(notes) if notes else "")
    return {"text": text, "blocks": blocks}


def scorecard_message(card: dict[str, Any], lang: str) -> dict[str, Any]:
    """Return the scorecard: score, outcome, summary, strengths, improvements and the rubric."""
    parts = [f"🏁 *{t(lang, 'scorecard')}* — {t(lang, 'score', score=card.get('score', 0))}"]
    if card.get("outcome"):
        parts.append(t(lang, "outcome", outcome=escape(str(card["outcome"]))))
    if card.get("summary"):
        parts.append(escape(card["summary"]))
    for key in ("strengths", "improvements"):
        if card.get(key):
            parts.append(f"*{t(lang, key)}*\n" + "\n".join(f"• {escape(item)}" for item in card[key]))
    rubric = [f"{VERDICT_ICON.get(r['verdict'], '•')} `{escape(r['id'])}` {escape(r['title'])} "
              f"({t(lang, 'turn', turn=r.get('turn', '?'))})" for r in card.get("rubric", [])]
    if rubric:
        parts.append(f"*{t(lang, 'rubric')}*\n" + "\n".join(rubric))
    text = "\n\n".join(parts)
    return {"text": text if len(text) <= 3000 else text[:2999] + "…", "blocks": sections(text)[:45]}


def scenario_choices(scenarios: list[dict[str, Any]]) -> str:
    """Return the scenario ids as inline code, comma-separated."""
    return ", ".join(f"`{escape(s['id'])}`" for s in scenarios)


def help_message(scenarios: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """Return what the app can do and the scenarios it can play."""
    lines = [t(lang, "scenario_line", id=escape(s["id"]), title=escape(s["title"].get(lang, s["id"])),
               stage=s.get("stage", "?"), difficulty=escape(str(s.get("difficulty", "?")))) for s in scenarios]
    text = (f"*{t(lang, 'help_title')}*\n{t(lang, 'help_body')}\n\n*{t(lang, 'scenarios')}*\n"
            + "\n".join(f"• {line}" for line in lines))
    return {"text": text, "blocks": sections(text)}
