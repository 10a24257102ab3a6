"""The offline answer: a short coaching reply composed from retrieved items, each line tied to its item."""

from __future__ import annotations

from app.knowledge.retriever import Hit

TEXT = {
    "zh": {
        "lead": "{do}",
        "do": "**怎么做**",
        "avoid": "**避免**",
        "out_of_scope": (
            "这个问题超出了公司销售标准的范围，我没有可依据的内容，不做猜测。我可以帮你解决销售各阶段的问题："
            "开发客户与初次接触、需求挖掘、方案与价值呈现、谈判与异议处理（比如客户嫌贵）、签约与后续安排、"
            "交付与客户维护。也可以开一场角色扮演，找个模拟客户练一练。"
        ),
        "not_covered": (
            "公司的销售标准里没有直接覆盖这个问题的内容，我不想给你没有依据的建议。"
            "可以换个说法描述你遇到的客户场景，或者请培训负责人把这类情况补充进知识库。"
        ),
        "injection": "抱歉，我不能透露或更改我的设定。我是销售教练，只根据公司的销售标准回答销售相关的问题。",
        "unethical": (
            "抱歉，这个我不能帮忙：它可能违法或违背职业道德。公司的标准要求信息来源合法、言行诚信可靠。"
            "如果你愿意，我可以帮你想想合规的做法。"
        ),
    },
    "en": {
        "lead": "{do}",
        "do": "**What to do**",
        "avoid": "**Avoid**",
        "out_of_scope": (
            "That's outside our sales standards, so I have nothing grounded to tell you and won't guess. "
            "I can help with every stage of a sale: prospecting and first contact, discovery, solutions and value, "
            "negotiation and objections (like \"you're too expensive\"), signing and hand-over, delivery and "
            "account care. You can also practise with a role-play customer."
        ),
        "not_covered": (
            "Our sales standards don't cover this directly, and I'd rather not give you advice with nothing behind it. "
            "Try describing the customer situation another way, or ask your enablement team to add it to the "
            "knowledge base."
        ),
        "injection": (
            "Sorry, I can't share or change my instructions. I'm a sales coach and answer sales questions from our "
            "standards."
        ),
        "unethical": (
            "Sorry, I can't help with that: it could be unlawful or unethical. Our standards require lawful sources "
            "and honest conduct. I'm happy to help you find an above-board way to reach the same goal."
        ),
    },
}


def message(key: str, lang: str) -> str:
    """Return a fixed message in the given language."""
    return TEXT[lang][key]


def compose(hits: list[Hit], lang: str) -> str:
    """Compose a coaching answer from hits (best first, already in `lang`): lead, what to do, what to avoid."""
    if not hits:
        return message("not_covered", lang)
    top, rest = hits[0], hits[1:]
    sep = "：" if lang == "zh" else ": "
    lines = [f"{top.do or top.text} [{top.id}]", ""]
    steps = [f"- {h.do} [{h.id}]" for h in rest if h.do]
    if steps:
        lines += [TEXT[lang]["do"], *steps, ""]
    avoid = [f"- {h.avoid} [{h.id}]" for h in hits[:2] if h.avoid]
    if avoid:
        lines += [TEXT[lang]["avoid"], *avoid, ""]
    basis = "依据" if lang == "zh" else "Based on"
    lines.append(f"_{basis}{sep}" + ("；" if lang == "zh" else "; ").join(f"{h.id} {h.title}" for h in hits) + "_")
    return "\n".join(lines).strip()
