"""Voice the customer with an LLM when one is configured; the engine has already decided what happens.

The LLM only rephrases the scripted reaction in character. Its reply is checked (judge_reply), and the scripted
line is used whenever the model errs, times out, answers in the wrong language, refuses or talks like an
assistant, says nothing (generic filler), slips into the seller's voice, or takes a stance the engine did not
decide: the scripted line's intent is the reference (app/roleplay/stance.py), copies an earlier line of the
conversation, talks like a coach, or leaves out or makes up a fact. The recorded real-model lines behind these
checks are in evals/recordings/ and evals/results/real-qwen2.5-coder-1.5b/.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import itertools
import logging
import re
import time
from pathlib import Path
from string import Template
from typing import Any

from app.coaching.llm_client import Budget, ChatClient
from app.roleplay.engine import SENTENCE_END
from app.roleplay.scenarios import Scenario
from app.roleplay.stance import StanceReader
from app.text import CJK, detect_language, letters

log = logging.getLogger(__name__)
PROMPT_FILE = "roleplay_customer.txt"
MAX_REPLY_CHARS = 400

# Phrases a customer would not say: the seller's offers, pitches and role labels.
SELLER_VOICE = re.compile(
    r"^\s*(?:sales(?:person)?|rep|seller|assistant|coach|销售|客服|顾问)\s*[:：]"
    r"|\bas an ai\b|\bas (?:your|a) (?:sales|account) (?:rep|manager)|\bour (?:product|solution|platform|pricing|"
    r"offer|proposal|service)s?\b|\bwe (?:can|could|will|'ll) (?:offer|give|provide|include|throw in|discount)"
    r"|\bi (?:can|could|will|'ll) (?:offer|give) you\b|\blet me (?:show|walk) you (?:through )?(?:our|the demo)"
    r"|\b(?:would|do) you like to (?:sign|proceed|buy|order)|\bthank you for (?:choosing|considering) us\b"
    r"|我们的(?:产品|方案|系统|报价|服务|价格)|(?:给|为)您(?:提供|优惠|打折|申请)|我可以给您|作为(?:销售|您的顾问|AI|人工智能)"
    r"|您(?:要|想)不要(?:签|下单|购买)|感谢您选择我们"
    # the seller's promises about starting and terms ("we can start next month, payment terms are flexible")
    r"|\bwe can (?:start|begin|kick off|deliver)\b|\bpayment terms are flexible\b"
    r"|我们(?:下个月|下周|马上)?就能(?:启动|开始|交付)|付款方式(?:也)?很灵活",
    re.IGNORECASE,
)
# A coach or tutor talking about the practice instead of the customer in it.
COACH_SPEAK = re.compile(
    r"(?:great|good|excellent) question|here are (?:some|a few) (?:points|tips|ways|suggestions|things)"
    r"|^\s*(?:hint|tip)\s*:|\btry (?:asking|explaining|saying|to)\b|\brole[- ]?play\b|\b(?:training|practice) "
    r"(?:scenario|session|exercise)\b|\bsimulated customer\b|\byou(?:'re| are) doing (?:great|well|fine)\b"
    r"|\b(?:good|great|nice) job\b|\bwell done\b|\bis a (?:great|good|proven) (?:way|strategy|approach) to\b"
    r"|以下是|几点建议|你做得(?:不错|很好)|做得很好|模拟客户|角色扮演|练习|重新开始|是(?:促进成交|成交)的好方法|您可以考虑",
    re.IGNORECASE,
)
# A model refusing or stepping out of the role: never a customer's line.
ASSISTANT_SPEAK = re.compile(
    r"\bI'?m sorry,? but\b|\bI can(?:not|'t) (?:assist|help|comply)\b|\bas an? (?:AI|language model|assistant)\b"
    r"|\bhow (?:can|may) I (?:help|assist)\b|\bI'?m (?:just )?an? (?:AI|assistant)\b|\bhappy to help\b"
    r"|\bhere(?:'s| is) (?:how|what) (?:the|a|your) customer\b|\bin (?:their|his|her) own words\b|以下是客户"
    r"|\bI (?:apologi[sz]e|am sorry|'m sorry),? (?:but )?I (?:can(?:no|')t|am unable|'m unable)\b"
    r"|\bI(?:'m| am) unable to (?:provide|share|assist|help|repeat|answer)\b|\bdon'?t have access to\b"
    r"|\bcan'?t repeat (?:previous|earlier)\b|\bneed more information to answer\b"
    r"|\banswer that (?:question )?accurately\b"
    r"|\bclarify (?:your|the) question\b|\b(?:feel free to ask|let me know if you have (?:any )?(?:other|more|further) "
    r"questions|(?:is there )?anything else I can (?:help|do) (?:you )?with)\b|\byou(?:'re| are) welcome\b"
    r"|需要更多信息|准确回答|无法提供|不能提供|无法重复|不能重复"
    r"|抱歉，?我(?:不能|无法)|我无法(?:协助|帮助|回答|完成)|作为(?:一个)?(?:AI|人工智能|语言模型|助手)|有什么(?:可以|能)帮(?:您|你)",
    re.IGNORECASE,
)
# A model introducing its answer instead of giving it ("Sure, here's how the customer would respond in their own
# words:", "以下是客户的回复：") and a speaker label opening a line of a conversation it goes on to write.
PREAMBLE = re.compile(
    r"(?:here(?:'s| is)|below is|sure|certainly|okay)\b.*\b(?:customer|respond|reply|response|in (?:their|his|her) "
    r"own words)\b.*[:：]\s*$|^(?:以下是|下面是|好的，以下).*[:：]\s*$", re.IGNORECASE)
SPEAKER = re.compile(r"^\s*(?:rep|customer|sales(?:person)?|seller|buyer|销售|客户|顾客)\s*[:：]\s*", re.IGNORECASE)
SAME_RATIO = 0.85  # a reply this close to an earlier line, letters and digits compared, copies it
# A sentence of a reply that is mostly one stretch of an earlier line (at least this share of it, and at least so
# many characters: a short quote such as "Cut downtime 30%?" is a customer's fair question back) copies it.
ECHO_SHARE, ECHO_MIN_ZH, ECHO_MIN_EN = 0.75, 10, 24
# Generic acknowledgements that carry no reaction at all ("我明白了，谢谢您的解释。").
FILLER_PHRASES = re.compile(
    r"我?(?:明白|了解|知道|清楚)了?|好的|好吧|嗯+|哈+|呵+|谢谢(?:您|你)?的?(?:解释|说明|介绍|分享)?|感谢(?:您|你)的?(?:解释|说明|介绍)?"
    r"|\b(?:i see|i understand|understood|got it|okay|ok|alright|sure|yes|yeah|(?:ha)+|lol"
    r"|thanks?(?: you)?(?: for (?:the|your) "
    r"(?:explanation|information|info|clarification))?|that makes sense|noted)\b",
    re.IGNORECASE,
)
# Cues of a customer pushing back, and of one agreeing or moving forward.
PUSHBACK = re.compile(
    r"等等|太早|还没|不行|不够|还是|贵|问题|风险|顾虑|凭什么|别急|慢着|先别|不急|没回答|绕不过|不能接受|算了|走了|再说"
    r"|\b(?:hold on|wait|too early|slow down|not yet|still|expensive|more than|questions?|risk|concern|why should"
    r"|doesn'?t|don'?t|haven'?t|won'?t|can'?t|not|no)\b",
    re.IGNORECASE,
)
AGREE = re.compile(
    r"好的|行[，。！!]?$|可以|没问题|就这么定|成交|签吧|发过来|同意|听起来不错|挺好"
    r"|\b(?:sounds good|deal|let'?s do it|send (?:it|me|the contract)|i agree|that works|fine by me|go ahead|"
    r"great|perfect|agreed)\b",
    re.IGNORECASE,
)
# A figure in a fact ("1.2 million parts", "三条线", "20%"): a reply that gives the fact keeps at least one.
FIGURE = re.compile(r"\d+(?:[.,]\d+)?%?|[一二两三四五六七八九十百千万亿半]+(?=[条个台件家人年月天周%倍成]|万|亿)")
FACT_OVERLAP = 0.5  # a fact without figures: the share of its words (zh: character pairs) the reply must keep
# Situations where the engine decided the customer resists, and where it decided the customer moves forward.
RESISTING = {"pushback", "premature_close", "argue", "pressure", "blame_customer", "walked_away", "time_up"}
FORWARD = {"resolved", "progressed", "buying_signal", "softened", "reveal"}
HELD_BACK = {"fact_unknown", "fact_guarded"}  # the customer does not know, or will not share yet

SITUATION_TEXT = {
    "reveal": "the rep's question worked: admit your real concern.",
    "softened": "the rep's answer helped a little; you want more.",
    "resolved": "the rep has answered your concern to your satisfaction.",
    "pushback": "you repeat your objection.",
    "buying_signal": "you are interested: ask about start dates, delivery or payment terms.",
    "progressed": "you agree to the next step.",
    "walked_away": "you end the conversation and walk away.",
    "time_up": "you have to leave; the meeting is over.",
    "neutral": "the rep said nothing useful; you are unimpressed.",
    "deflect": "the rep answered the surface objection; it is not what really bothers you.",
    "premature_close": "the rep asked for the order too early; you push back.",
    "discount": "the rep gave a discount for nothing; you now suspect more is available and ask for it.",
    "argue": "the rep argued with you; you are annoyed.",
    "pressure": "the rep pressured you; you resist.",
    "overpromise": "the rep over-promised; you are sceptical.",
    "blame_customer": "the rep blamed you or your team for the problem; you are angry.",
    "disparage": "the rep ran the competitor down; you find it unprofessional.",
    "greeting": "the rep greeted you; greet back briefly and wait for their point.",
    "filler": "the rep said nothing of substance; nudge them to get to the point.",
    "repeat": "the rep asked you to repeat; say your last point again.",
    "meta": "the rep talked about the practice itself; stay in character and steer back.",
    "fact_unknown": "the rep asked something you do not know offhand; say so.",
    "fact_guarded": "the rep asked something you will not share yet; you do not trust them enough.",
    "already_said": "the rep asked for something you already told them; say it again, a little impatient.",
    "meeting": "the rep proposed a time to meet; agree to find a slot, in character, and say what they should bring.",
    "settled": "your concerns are settled and the rep made a fair point; agree briefly, in character.",
}


def in_character(reply: str, lang: str, rep_message: str) -> bool:
    """Return whether a reply reads as the customer, in the session language."""
    return judge_reply(reply, lang, rep_message)[0]


def customer_words(raw: str) -> str:
    """Return the customer's words from a model's raw output: without a preamble ("Sure, here's how the customer
    would respond:"), a speaker label, quotes, or the rest of the conversation the model went on to write."""
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    while len(lines) > 1 and PREAMBLE.search(lines[0]):
        lines.pop(0)
    kept = lines[:1] + [line for line in itertools.takewhile(lambda line: not SPEAKER.match(line), lines[1:])]
    text = SPEAKER.sub("", " ".join(kept)).strip().strip('"“”').strip()
    return text


def _same(reply: str, line: str) -> bool:
    """Return whether a reply is (nearly) an earlier line word for word, or one of its sentences is mostly one
    stretch of that line ("好的，我明白了。请问你们一年大概要采购多少台？" after the rep asked exactly that)."""
    a, b = letters(reply), letters(line)
    if not (a and b):
        return False
    if a == b or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_RATIO:
        return True
    for sentence in SENTENCE_END.split(reply):
        part = letters(sentence)
        if not part:
            continue
        block = difflib.SequenceMatcher(None, part, b, autojunk=False).find_longest_match(0, len(part), 0, len(b))
        shortest = ECHO_MIN_ZH if CJK.search(part) else ECHO_MIN_EN
        if block.size >= max(shortest, ECHO_SHARE * len(part)):
            return True
    return False


def carries_fact(reply: str, wordings: list[str]) -> bool:
    """Return whether a reply gives a fact: one of its figures, or (a fact without figures) most of its words."""
    figures = {f for w in wordings for f in FIGURE.findall(w)}
    if figures:
        return any(f in reply for f in figures)
    said = _grams(reply)
    return any(len(_grams(w) & said) >= FACT_OVERLAP * len(_grams(w)) for w in wordings if _grams(w))


def _grams(text: str) -> set[str]:
    """Words of an English text, character pairs of a Chinese one (lower case, no punctuation)."""
    text = text.lower()
    if CJK.search(text):
        chars = "".join(CJK.findall(text))
        return {chars[i:i + 2] for i in range(len(chars) - 1)}
    return {w for w in re.findall(r"[a-z']+", text) if len(w) > 3}


def judge_reply(
    reply: str, lang: str, rep_message: str, scripted: str = "", situations: list[str] | None = None,
    facts: list[list[str]] | None = None, stance: StanceReader | None = None,
    history: list[tuple[str, str]] | None = None,
) -> tuple[bool, str]:
    """Return (whether to voice the reply, why): the customer's words, in the session language and stance.

    `facts`: the wordings of each fact the engine decided the customer gives this turn; the reply must give them.
    `stance`: reads each sentence's stance, held to the stance of the engine's `situations`.
    `history`: the conversation so far, (who, text) pairs; a reply copying any earlier line is not the customer.
    """
    text = reply.strip()
    if not text:
        return False, "empty"
    if len(text) > MAX_REPLY_CHARS:
        return False, "too long"
    earlier = history or []
    if any(_same(text, line) for line in [rep_message, *(t for who, t in earlier if who == "rep")]):
        return False, "echoes the rep"
    if any(_same(text, line) for who, line in earlier if who == "customer"):
        return False, "repeats an earlier customer line"
    if ASSISTANT_SPEAK.search(text):
        return False, "refusal or assistant-speak"
    if detect_language(text) != lang:
        return False, "wrong language"
    if SELLER_VOICE.search(text):
        return False, "seller's voice"
    if COACH_SPEAK.search(text):
        return False, "a coach's voice, not the customer's"
    if len(re.sub(r"[\W_]+", "", FILLER_PHRASES.sub("", text))) <= 2:
        return False, "generic filler"
    for wordings in facts or []:
        if not carries_fact(text, wordings):
            return False, "leaves out the fact the engine gives"
    keys = {k.rsplit(":", 1)[-1] for k in situations or []}
    known = set(FIGURE.findall(f"{scripted} {rep_message}"))
    if keys & HELD_BACK and any(f not in known for f in FIGURE.findall(text)):
        return False, "gives a figure the engine held back"
    if stance is not None and stance.model is not None and situations:
        why = stance.judge(text, scripted, situations)
        return (False, f"contradicts the engine: {why}") if why else (True, "in character")
    resisting = bool(keys & RESISTING) if keys else bool(
        scripted and PUSHBACK.search(scripted) and not AGREE.search(scripted))
    if resisting and not PUSHBACK.search(text):
        return False, "contradicts the engine: it decided the customer pushes back"
    if keys and keys <= FORWARD and AGREE.search(scripted or "") and not AGREE.search(text) and PUSHBACK.search(
            text) and not PUSHBACK.search(scripted):
        return False, "contradicts the engine: it decided the customer moves forward"
    return True, "in character"


class CustomerVoice:
    """Rephrase scripted reactions with a chat model, falling back to the script."""

    def __init__(self, model: Any, prompts_dir: Path, timeout_s: float, budget_s: float | None = None,
                 stance: StanceReader | None = None) -> None:
        # `model`: the service's streaming ChatClient (one budget per turn; the model server is hung up on when it
        # runs out) or any LangChain chat model (tests, other providers), bounded by `timeout_s`.
        self.model = model
        self.timeout_s = timeout_s
        self.budget_s = budget_s if budget_s is not None else timeout_s
        self.stance = stance
        self.template = Template((prompts_dir / PROMPT_FILE).read_text(encoding="utf-8")) if model else None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="customer-voice")

    def speak(
        self, scenario: Scenario, lang: str, state: dict[str, Any], situations: list[str], scripted: str,
        history: list[tuple[str, str]], rep_message: str, facts: list[str] | None = None,
        report: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Return (reply, "llm" or "script"); `facts` are the slots the engine has the customer give this turn.

        `report`, when given, receives what the model did: outcome (served or replaced), reason, its raw output,
        and the time to its first token and to its whole reply, in milliseconds.
        """
        if self.model is None or self.template is None:
            return scripted, "script"
        report = report if report is not None else {}
        report.update(scripted=scripted, situations=list(situations))
        prompt = self._prompt(scenario, lang, state, situations, scripted, history, rep_message)
        started = time.perf_counter()
        try:
            if isinstance(self.model, ChatClient):
                pieces: list[str] = []
                for piece in self.model.stream([{"role": "user", "content": prompt}], Budget(self.budget_s)):
                    if not pieces:
                        report["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
                    pieces.append(piece)
                message: Any = "".join(pieces)
            else:
                future = self._pool.submit(self.model.invoke, prompt)
                message = future.result(timeout=self.timeout_s)
        except Exception as exc:  # a provider error, the budget or a timeout must never break the session
            log.warning("customer voice fell back to the script: %s", type(exc).__name__)
            reason = getattr(exc, "reason", None) or (
                "timeout" if isinstance(exc, concurrent.futures.TimeoutError) else "error")
            report.update(outcome="replaced", reason=reason, raw="",
                          total_ms=round((time.perf_counter() - started) * 1000, 1))
            return scripted, "script"
        raw = str(getattr(message, "content", message))
        report.update(raw=raw, total_ms=round((time.perf_counter() - started) * 1000, 1))
        reply = customer_words(raw)
        wordings = [scenario.facts[slot].get(lang) for slot in facts or [] if slot in scenario.facts]
        ok, why = judge_reply(reply, lang, rep_message, scripted, situations, wordings, self.stance, history)
        report.update(outcome="served" if ok else "replaced", reason=why)
        if not ok:
            log.info("customer voice rejected (%s); using the scripted line", why)
            return scripted, "script"
        return reply, "llm"

    def _prompt(
        self, scenario: Scenario, lang: str, state: dict[str, Any], situations: list[str], scripted: str,
        history: list[tuple[str, str]], rep_message: str,
    ) -> str:
        p = scenario.persona
        current = next((o for o in state["objections"] if o["status"] != "pending"), state["objections"][0])
        spec = next(o for o in scenario.objections if o.id == current["id"])
        mood = "You are losing patience." if state["patience"] < 30 else (
            "You are warming up." if state["trust"] >= 55 else "You are guarded.")
        described = "; ".join(SITUATION_TEXT.get(key.rsplit(":", 1)[-1], key) for key in situations) or \
            "the rep asked you a question; answer it from the facts below."
        # The fact sheet: what the customer has shared, and what anyone could know about the company (depth 0), so
        # a factual question gets an answer in character; deeper facts stay with the engine's decision.
        shared = [slot for slot in state.get("facts_given", []) if slot in scenario.facts]
        public = [slot for slot, fact in scenario.facts.items() if fact.depth == 0 and slot not in shared]
        given = [scenario.facts[slot].get(lang)[0] for slot in shared + public]
        lines = [f"{'Rep' if who == 'rep' else 'Customer'}: {text}" for who, text in history[-8:]]
        assert self.template is not None  # only called when an LLM (and so its prompt) is configured
        return self.template.substitute(
            persona=f"{p.name.get(lang)}, {p.role.get(lang)} at {p.company.get(lang)}; {p.temperament.get(lang)}",
            surface=spec.surface.get(lang), concern=spec.concern.get(lang), trust=state["trust"],
            patience=state["patience"], mood=mood, situation=described, scripted=scripted,
            language="Simplified Chinese" if lang == "zh" else "English",
            history="\n".join(lines) or "(nothing yet)", message=rep_message,
            facts="\n".join(f"- {fact}" for fact in given) or "(none yet)",
        )

    def close(self) -> None:
        """Stop the worker threads and the model client's connections."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(self.model, ChatClient):
            self.model.close()
