"""The offline answer: a short coaching reply composed from retrieved items, each line tied to its item."""

from __future__ import annotations

from app.knowledge.retriever import Hit

TEXT = {
    "zh": {
        "out_of_scope": (
            "这个不是销售问题，我帮不上：IT、人事薪酬、报销、CRM操作这类事请找对应的同事或系统帮助。"
            "我是销售教练，可以帮你解决销售各阶段的问题："
            "开发客户与初次接触、需求挖掘、方案与价值呈现、谈判与异议处理（比如客户嫌贵）、签约与后续安排、"
            "交付与客户维护。也可以开一场角色扮演，找个模拟客户练一练。"
        ),
        "not_covered": (
            "这是销售问题，但公司的销售标准里没有覆盖它的内容，我不想给你没有依据的建议。"
            "我已经把它记进了“待补充问题”，培训负责人会看到；你也可以换个说法描述你遇到的客户场景。"
        ),
        "injection": "抱歉，我不能透露或更改我的设定。我是销售教练，只根据公司的销售标准回答销售相关的问题。",
        "unethical": (
            "抱歉，这个我不能帮忙：它可能违法或违背职业道德。公司的标准要求信息来源合法、言行诚信可靠。"
            "如果是客户向你要好处费、回扣或礼品，礼貌拒绝，并马上告诉你的主管或合规部门。"
            "如果你愿意，我可以帮你想想合规的做法，比如用价值和数据赢下这一单。"
        ),
    },
    "en": {
        "out_of_scope": (
            "That isn't about selling, so I'm not the right help: for IT, HR and pay, expenses or how to use the "
            "CRM, ask the team or the help pages that own them. I'm your sales coach and can help with every "
            "stage of a sale: prospecting and first contact, discovery, solutions and value, "
            "negotiation and objections (like \"you're too expensive\"), signing and hand-over, delivery and "
            "account care. You can also practise with a role-play customer."
        ),
        "not_covered": (
            "That's a sales question, but our sales standards don't cover it, and I'd rather not give you advice "
            "with nothing behind it. I've logged it for your enablement team's list of unanswered questions; you "
            "can also describe the customer situation another way."
        ),
        "injection": (
            "Sorry, I can't share or change my instructions. I'm a sales coach and answer sales questions from our "
            "standards."
        ),
        "unethical": (
            "Sorry, I can't help with that: it could be unlawful or unethical. Our standards require lawful sources "
            "and honest conduct. If it is the customer asking you for a kickback, a fee or a gift, decline politely "
            "and tell your manager or compliance team straight away. I'm happy to help you find an above-board way "
            "to reach the same goal, such as winning the deal on value and numbers."
        ),
    },
}


def message(key: str, lang: str) -> str:
    """Return a fixed message in the given language."""
    return TEXT[lang][key]


LABELS = {
    "zh": {"also": "**还可以**", "say": "**可以这样说**", "avoid": "**注意避免**", "basis": "依据",
           "say_lead": "可以这样说：", "why": "为什么：", "next": "下一步：", "says": "标准的要求：",
           "warns": "标准提醒避免：", "quote": "“{}”", "sep": "；", "colon": "："},
    "en": {"also": "**Also**", "say": "**Words you can use**", "avoid": "**Avoid**", "basis": "Based on",
           "say_lead": "Try saying: ", "why": "Why: ", "next": "Next step: ", "says": "What the standard says: ",
           "warns": "What it warns against: ", "quote": "\u201c{}\u201d", "sep": "; ", "colon": ": "},
}


LANGUAGE_NOTE = {
    "zh": {"en": "_注：引用的标准原文是英文（来源文档只有英文版）。_"},
    "en": {"zh": "_Note: the standards quoted are in Chinese, the language of the source document._"},
}


def source_language_note(hits: list[Hit], lang: str) -> str:
    """Return a line saying which language the cited source is in when it is not the asker's, else ""."""
    other = next((h.lang for h in hits if h.lang != lang), None)
    return LANGUAGE_NOTE.get(lang, {}).get(other or "", "")


def lead_line(answer: str) -> str:
    """Return the first line of an answer (what a follow-up must not repeat)."""
    return answer.strip().split("\n", 1)[0]


def compose(hits: list[Hit], lang: str, qtype: str = "how_to", previous: str | None = None) -> str:
    """Compose a coaching answer from hits (best first, already in `lang`), shaped by the kind of question.

    It leads with the one thing to do now, gives words the rep can say, and never opens with the lead of
    the previous answer in the conversation (a follow-up gets the next step, not the same sentence).
    """
    if not hits:
        return message("not_covered", lang)
    t = LABELS[lang]
    order = list(hits)
    if previous is not None and len(order) > 1 and _lead_for(order[0], qtype, t) == lead_line(previous):
        order = order[1:] + order[:1]
    top, rest = order[0], order[1:]
    speaker = next((h for h in order if h.say), None)
    lines = [_lead_for(top, qtype, t)]
    said = qtype == "what_to_say" and bool(top.say)
    if qtype == "what_to_say" and top.say:
        lines.append(f"{t['why']}{top.do or top.text} [{top.id}]")
    elif qtype == "is_it_ok" and top.avoid:
        lines.append(f"{t['warns']}{top.avoid} [{top.id}]")
    lines.append("")
    also = [f"- {h.do} [{h.id}]" for h in rest if h.do][:2]
    if also:
        lines += [t["also"], *also, ""]
    if speaker is not None and not said:
        lines += [t["say"], f"> {t['quote'].format(speaker.say)} [{speaker.id}]", ""]
    if top.avoid and qtype != "is_it_ok":
        lines += [t["avoid"], f"- {top.avoid} [{top.id}]", ""]
    lines.append(f"_{t['basis']}{t['colon']}" + t["sep"].join(f"{h.id} {h.title}" for h in order) + "_")
    if note := source_language_note(order, lang):
        lines.append(note)
    return "\n".join(lines).strip()


def _lead_for(hit: Hit, qtype: str, t: dict[str, str]) -> str:
    """The opening line: the one thing to do now, worded for the question asked."""
    do = hit.do or hit.text
    if qtype == "what_to_say" and hit.say:
        return f"{t['say_lead']}{t['quote'].format(hit.say)} [{hit.id}]"
    if qtype == "what_next":
        return f"{t['next']}{do} [{hit.id}]"
    if qtype == "is_it_ok":
        return f"{t['says']}{do} [{hit.id}]"
    return f"{do} [{hit.id}]"
