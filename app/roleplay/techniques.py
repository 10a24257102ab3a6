"""Understand a rep's role-play message (Chinese or English), clause by clause.

A linear model over the sentence embeddings, trained on thousands of labelled clauses (`coach train`; data in
app/roleplay/data), decides which techniques each clause shows, which fact it asks the customer for, and what
kind of message it is (a move, a filler, a greeting, a request to repeat, talk about the practice itself).
Violations cost the rep points, so their thresholds are set for precision on cross-validation. The rules below
are supporting evidence only: a rule match lowers the bar for a label the model already leans to, and a guard
(a refusal to discount, a hedge before "guarantee", "no rush") removes a label, because an embedding cannot see
a negation. Without a trained model for the configured embedder the rules alone decide.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.knowledge.embedder import Embedder
from app.learn.linear import LinearModel, embed_features, feature_name, load_for, model_path
from app.learn.neighbours import Neighbours
from app.limits import MAX_ANALYSED_TOKENS
from app.text import analysed_prefix

log = logging.getLogger(__name__)

EXEMPLARS = (Path(__file__).with_name("exemplars.jsonl"), Path(__file__).with_name("exemplars-extra.jsonl"))
MODELS = Path(__file__).with_name("models")


@dataclass(frozen=True)
class Technique:
    """A behaviour we look for, the standard it bears on, and the verdict it earns when seen."""

    name: str
    standard: str
    verdict: str  # "followed" or "violated"
    label: dict[str, str]


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in (
        Technique("discount", "s4.caution.1", "violated", {"en": "unconditional discount", "zh": "无条件降价"}),
        Technique("concession", "s4.caution.1", "followed", {"en": "concession traded for a commitment",
                                                              "zh": "以让步换取承诺"}),
        Technique("acknowledge", "s4.standard.2", "followed", {"en": "acknowledge and clarify",
                                                                "zh": "认同并澄清"}),
        Technique("probe", "s4.caution.2", "followed", {"en": "probing for the real objection",
                                                         "zh": "追问真实异议"}),
        Technique("argue", "s4.caution.3", "violated", {"en": "arguing with the customer", "zh": "与客户争辩"}),
        Technique("pressure", "s4.standard.3", "violated", {"en": "pressure or ultimatum", "zh": "施压或最后通牒"}),
        Technique("overpromise", "s3.caution.1", "violated", {"en": "over-promising", "zh": "过度承诺"}),
        Technique("value", "s3.standard.2", "followed", {"en": "quantified value", "zh": "量化价值"}),
        Technique("differentiate", "s3.caution.3", "followed", {"en": "differentiation", "zh": "差异化优势"}),
        Technique("story", "s3.caution.2", "followed", {"en": "a customer story or case", "zh": "案例或故事"}),
        Technique("close", "s4.caution.4", "followed", {"en": "asking for the close", "zh": "提出成交"}),
        Technique("open_question", "s2.standard.1", "followed", {"en": "open discovery question",
                                                                  "zh": "开放式提问"}),
        Technique("decision_makers", "s2.caution.3", "followed", {"en": "identifying the decision-makers",
                                                                   "zh": "识别决策单元"}),
        Technique("remedy_plan", "s6.standard.4", "followed", {"en": "owning the problem with a concrete remedy",
                                                                "zh": "担起责任并给出具体补救计划"}),
        Technique("reassure", "s5.caution.3", "followed", {"en": "reassuring after signing",
                                                            "zh": "签约后安抚顾虑"}),
        Technique("next_steps", "s5.standard.3", "followed", {"en": "thanks and clear next steps",
                                                               "zh": "致谢并说明后续安排"}),
        Technique("blame_customer", "s6.caution.2", "violated", {"en": "blaming the customer", "zh": "把问题推给客户"}),
        Technique("disparage", "s3.caution.3", "violated", {"en": "running the competitor down",
                                                            "zh": "贬低竞争对手"}),
    )
}

NUM_EN = r"(?:\d[\d,.]*\s?(?:%|k\b|m\b)?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|"
NUM_EN += r"fifteen|twenty|thirty|fifty|hundred|half|double|twice)\b)"
NUM_ZH = r"(?:\d|[一两二三四五六七八九十百千万半]|成|倍)"

# Each pattern is searched case-insensitively; a hit is strong evidence on its own.
RULES: dict[str, list[str]] = {
    "discount": [
        r"\d+\s?(?:%|percent)\s*(?:off|discount)", r"\b(?:take|knock|shave|cut|drop)\b.{0,25}"
        r"\b(?:off|price|quote|down to|to \d)",
        r"\bmatch (?:their|the|that|x'?s|your) (?:price|quote|offer)",
        r"\b(?:lower|reduce|cut|drop)\b (?:our |the |my |your )?(?:price|quote|rate)\b", r"\bdiscount\b",
        r"\bwaive\b", r"\bbest price\b", r"\b(?:make it|do it|go) cheaper\b", r"\bfor free\b",
        r"\b(?:say|make it|go|price)\b.{0,15}\d+\s?(?:%|percent) (?:lower|less|cheaper)\b",
        r"打.{0,2}折",
        r"(?:降|减|让|少收)(?:到|了|掉)?.{0,2}[\d一两二三四五六七八九十]+(?:万|千|百|块|元|个点)",
        r"(?:降|让)到", r"让.{0,2}百分之", r"(?:再|给您|算您|就)便宜|便宜(?:给您|点吧|一点吧)",
        r"降价", r"让价", r"抹(?:掉|零)|零头", r"跟(?:他们|对方|别家|X).{0,4}(?:一个价|一样的价|同价)",
        r"按(?:他们|对方|别家)的价", r"(?:费|钱)(?:用)?(?:我们|就)?(?:给您)?免(?:了|掉)", r"优惠",
        r"折扣", r"让(?:一点|一些|利)",
    ],
    "concession": [
        r"\bin (?:exchange|return) for\b", r"\b(?:price|rate|discount)\b.{0,40}\bif (?:you|we) can\b",
        r"\bif we can agree\b", r"\bif you(?:'re able to| can| could| commit| sign| prepay| pay|"
        r" agree)\b.{0,60}\b(?:price|off|%|discount|reduc|include|add|throw in|free|rate|lower|down|waive|"
        r"payment|instal|defer|split)",
        r"\b(?:provided|as long as|on condition that|should you)\b", r"\btrade\b.{0,30}\bfor\b",
        r"如果您?(?:能|可以|愿意|这边)", r"(?:您)?要是(?:能|愿意|可以)", r"只要", r"前提是", r"条件是",
        r"作为交换",
        r"换取", r"若您",
    ],
    "acknowledge": [
        r"\bi (?:completely |totally |fully )?(?:understand|hear you|get (?:it|that|why))\b",
        r"\bmakes sense\b",
        r"\b(?:fair|good|great) (?:point|question)\b",
        r"\b(?:completely |totally |very )?reasonable concern\b",
        r"\bthanks? (?:you )?for (?:being|telling|sharing|raising)", r"\bi appreciate (?:you|that)",
        r"\bif i(?:'ve| have)? (?:got this|understand) (?:right|correctly)\b",
        r"\bmake sure i understand\b",
        r"\bsounds like\b.{0,40}\b(?:concern|worr|issue|problem|timing|budget|cost)", r"\byou'?re right\b",
        r"\bi can see why\b", r"\bunderstandable\b",
        r"理解", r"明白", r"有道理", r"说得(?:对|没错)", r"很正常", r"谢谢您.{0,6}(?:坦诚|直说|告诉|提)",
        r"我(?:复述|确认)一下", r"您的意思是", r"对吗[？?]?$",
    ],
    "probe": [
        r"\b(?:besides|apart from|other than|aside from)\b.{0,40}\b(?:anything|something|else)\b",
        r"\bwhat(?:'s| is) (?:behind|really|holding|stopping)", r"\bholding you back\b",
        r"\b(?:what|which|anything|something)\b.{0,30}\b(?:hesitat|unsure|worr(?:y|ies|ied)|concern(?:s|ed)?)",
        r"\bwhat else\b",
        r"\bwhat (?:part|specifically|exactly)\b.{0,40}\?",
        r"\bif (?:price|budget|cost|money)\b.{0,30}\b(?:weren'?t|wasn'?t|were not|aside)\b",
        r"\bwhat would (?:have to|need to) (?:change|be true|happen)",
        r"\breal (?:blocker|issue|concern|reason)",
        r"\bor is (?:it|there) something\b", r"^is it\b.{0,60}\bor\b", r"\banything else\b.{0,30}\?",
        r"除了.{0,8}(?:还有|之外|以外)", r"(?:顾虑|担心|犹豫|不放心|疑问|考虑).{0,10}(?:什么|哪)",
        r"还有(?:别的|其他|什么)?.{0,3}(?:顾虑|担心|疑问)",
        r"(?:什么|哪).{0,8}(?:顾虑|担心|犹豫|不放心)", r"真正.{0,6}(?:原因|顾虑|担心|犹豫|问题)",
        r"(?:假如|如果)(?:价格|预算|钱).{0,10}(?:一样|不是问题|没问题)", r"是.{1,10}还是.{1,20}[？?]",
        r"主要是跟哪", r"具体是.{0,6}哪",
    ],
    "argue": [
        r"\byou(?:'ve| have)? (?:got (?:that|it) )?wrong\b", r"\byou'?re (?:wrong|mistaken|missing)",
        r"\b(?:that'?s|this is) (?:simply |just )?(?:not true|not correct|incorrect|wrong|nonsense|ridiculous)",
        r"\bnonsense\b", r"\bdon'?t (?:really )?understand how\b",
        r"\bdon'?t think you (?:understand|get)\b",
        r"\byou (?:don'?t|do not|didn'?t) (?:really )?(?:understand|get it)\b",
        r"\bi disagree\b", r"\bclearly haven'?t\b", r"\bfrankly,? that'?s a mistake\b",
        r"\bthat'?s a mistake\b",
        r"\byou need to understand\b", r"\bnot comparing the same thing\b",
        r"您?(?:这个)?(?:说法|说得|想法)?不对", r"(?:理解|搞|想)错了", r"误会了", r"不是这样",
        r"不可能", r"没搞(?:明白|清楚|懂)", r"不了解", r"根本(?:不是|没有|不)", r"压根", r"被.{0,4}忽悠",
        r"纠正您", r"是错的", r"您不懂",
    ],
    "pressure": [
        r"\b(?:only|good|valid) (?:until|till|for) (?:\d|today|tonight|tomorrow|friday|the end)",
        r"\bexpires?\b", r"\blast chance\b", r"\b(?:decide|sign|commit|answer) (?:right )?(?:now|today)\b",
        r"\bif you don'?t (?:sign|decide|commit|act)", r"\btake it or leave it\b", r"\bfinal offer\b",
        r"\bnow or never\b", r"\bnothing to think about\b", r"\blimited[- ]time\b",
        r"\bsomeone else will\b",
        r"\bprices? go(?:es)? up\b", r"\bneed an answer\b", r"\bno more delays\b",
        r"\bhave to sign today\b",
        r"今天(?:必须|就得|一定要)", r"过了今天", r"最后(?:的)?(?:一次)?机会", r"名额(?:有限|就剩|不多)",
        r"(?:再)?不定.{0,4}(?:别人|就没)", r"考虑什么", r"没什么(?:好)?(?:考虑|犹豫)", r"要就要",
        r"涨价.{0,10}(?:亏|赶紧|看着办|现在)", r"赶紧(?:签|定|下单)", r"必须.{0,4}(?:准话|答复|决定|定)",
        r"不(?:签|买)就", r"今天必须", r"看着办", r"不然.{0,6}(?:就没|没了)",
    ],
    "overpromise": [
        r"\bguarantee", r"\b100\s?%", r"\bnever (?:have|fail|break|be a|go down)",
        r"\bzero (?:risk|downtime|"
        r"defects|errors|problems)",
        r"\b(?:whatever|any(?:thing)?) (?:customi[sz]ation |feature )?you (?:need|want)"
        r"\b.{0,30}\b(?:we'?ll|we can|no problem|build|add)", r"\bi promise\b", r"\bpromise you\b",
        r"\bdefinitely (?:double|triple|increase|grow)", r"\b(?:double|triple) your\b", r"\berror-free\b",
        r"\bno risk\b", r"\bwe can do anything\b",
        r"保证", r"绝对", r"百分之百", r"包在我身上", r"打包票", r"肯定(?:能|没问题|会)", r"一定能",
        r"永远不会", r"零(?:故障|风险|失误)", r"(?:什么|任何).{0,6}(?:都能|都可以)(?:做|满足|实现)?",
        r"都能满足", r"随叫随到", r"翻倍",
    ],
    "value": [
        rf"\b(?:sav(?:e|es|ed|ing|ings)|cut|cuts|reduce|reduces|lower|fewer|less|recover|pays? for itself|"
        rf"payback|roi|return on|frees? up|shorten)\b.{{0,60}}{NUM_EN}",
        rf"{NUM_EN}.{{0,40}}\b(?:a year|per year|annually|a month|per month|per day|fewer|less|lower|"
        rf"savings?)\b",
        rf"\bfrom {NUM_EN}.{{0,30}}\bto\b", r"\bpays? for itself\b", r"\bpayback\b",
        rf"(?:节省|省下|省|减少|少|降低|低|提升|提高|缩短|收回|回本|回报|多出).{{0,12}}{NUM_ZH}",
        rf"{NUM_ZH}.{{0,10}}(?:就能)?(?:收回|回本)", rf"从.{{0,10}}{NUM_ZH}.{{0,8}}(?:缩短|降|减|提)到",
        r"回报周期", r"(?:率|时间|成本|周期|能耗|库存|故障|人力).{0,6}(?:降|减|少|缩短)了?.{0,4}\d",
        r"省回来|(?:赚|挣)回来", r"每年.{0,12}(?:万|元|小时|天)", r"(?:投资)?回报",
    ],
    "differentiate": [
        r"\bunlike\b", r"\b(?:compared (?:to|with)|versus|vs\.?)\b",
        r"\b(?:sets us apart|makes us different)\b",
        r"\b(?:key|main|real|big(?:gest)?) difference\b", r"\bwe (?:really )?differ\b",
        r"\bwhere we\b.{0,20}"
        r"\bdiffer", r"\bthe only (?:supplier|vendor|company|one)\b",
        r"\b(?:their|the other) (?:quote|offer|"
        r"proposal|product)\b.{0,40}\b(?:doesn'?t|does not|leaves out|excludes|lacks|charges)",
        r"\b(?:charges?|pay) (?:extra|separately)\b.{0,40}\bwe\b",
        r"\bours (?:includes?|are included|is)\b",
        r"\bwhich ours\b", r"\b(?:\w+'s|their|the other)\b.{0,25}\bcan'?t (?:do|match|offer)\b",
        r"(?:和|跟|与)(?:他们|对方|X|竞品|别家|其他).{0,10}(?:不同|区别|相比|比)", r"不同的是",
        r"区别(?:在于|是)",
        r"最大的(?:不同|区别)", r"相比", r"对比",
        r"(?:他们|对方|别家|其他供应商).{0,20}(?:没有|不含|不包括|另外|单独|只)",
        r"只有我们", r"我们(?:独有|是含的|是包含的)", r"而我们",
    ],
    "story": [
        r"\b(?:one of our|a|another) (?:\w+ )?(?:customers?|clients?)\b.{0,60}\b(?:had|was|were|went|chose|came|"
        r"told|said|switched|started|did|cut|saved)\b", r"\bcase stud(?:y|ies)\b",
        r"\blet me (?:tell|share)\b"
        r".{0,20}\b(?:about (?:a|one|an)\b|what happened|story)",
        r"\b(?:a|one|another) (?:[\w-]+ ){0,3}(?:company|plant|manufacturer|distributor|retailer|chain|hospital|"
        r"firm|customer|client)\b (?:we|that|who|in)\b", r"\bi (?:worked with|remember)\b",
        r"\bfor (?:example|instance)"
        r",? (?:a|one|we)\b", r"\b(?:a|one) (?:similar|similar-sized)\b", r"\bwent through this\b",
        r"\bhad (?:exactly )?(?:this|the same|a similar) (?:worry|concern|problem)",
        r"(?:有|一)家.{0,14}(?:客户|企业|公司|厂|医院|超市|店|连锁)",
        r"(?:遇到|碰到)过(?:类似|同样|一样)", r"(?:有个|有位|一位)(?:客户|老板)",
        r"案例", r"举个例子", r"讲个.{0,4}(?:例子|故事)",
        r"之前有(?:位|个|一家)", r"(?:服务过|合作过)的", r"同行.{0,6}(?:老板|客户|跟我)", r"当初也",
        r"后来(?:他们|又)",
    ],
    "close": [
        r"\bshall (?:we|i)\b", r"\bshould we (?:go ahead|move|put|start|schedule|book|sign|get)",
        r"\bcan (?:we|i) (?:go ahead|move forward|get started|schedule|book|sign|pencil|put|send)",
        r"\bready to (?:move forward|go ahead|sign|start|proceed)",
        r"\bwould you like to (?:go ahead|proceed|"
        r"start|move forward|sign)",
        r"\blet'?s (?:get|go ahead|move forward|book|schedule|start|sign|lock)",
        r"\bsend (?:you |over )?(?:the )?(?:agreement|contract|order form|paperwork|po)\b",
        r"\bkick-?off\b",
        r"\bpaperwork\b", r"\border form\b",
        r"(?:签|发)合同", r"签约", r"(?:把)?(?:订单|合同|方案)定下来", r"下单", r"启动",
        r"走(?:采购|合同)?流程",
        r"推进", r"签了吧", r"(?:先|就)从.{0,8}开始",
        r"(?:下周|明天|周[一二三四五]).{0,6}(?:安装|开始|上线)", r"合同.{0,4}发",
    ],
    "open_question": [
        r"^(?:so,? |and )?(?:what|how)\b(?!.*\b(?:worr|hesitat|holding|behind|else|unsure|wrong with)).{6,}\?$",
        r"^(?:tell me|walk me through|could you (?:tell|walk|describe)|can you (?:tell|walk|describe))\b",
        r"(?:目前|现在|平时|你们|贵公司|您).{0,12}(?:怎么|如何|哪些|哪几|什么|怎样)(?!.{0,6}(?:顾虑|担心|犹豫|不放心))",
        r"能(?:不能)?(?:介绍|说说|聊聊|讲讲)", r"主要(?:的)?(?:挑战|问题|目标)", r"最看重",
        r"希望.{0,12}(?:达到|改善|解决)",
    ],
}

# A guard removes a detection when the message says the opposite (a refusal, a hedge, reassurance).
GUARDS: dict[str, list[str]] = {
    "discount": [
        r"\b(?:not|won'?t|can'?t|cannot|don'?t|never|no)\b.{0,20}\b(?:discount|cut|drop|lower|reduc)",
        r"\b(?:instead of|rather than)\b.{0,15}\b(?:a )?(?:discount|cut)", r"\bnot going to\b",
        r"不(?:会|能|搞|做)?.{0,4}(?:随便|轻易|无条件)?(?:降价|打折|让价)", r"没法(?:降|打折)", r"与其降价",
        r"而不是(?:降价|打折)", r"不搞", r"不会随便",
    ],
    "overpromise": [
        r"\b(?:can'?t|cannot|won'?t|not|don'?t)\b.{0,12}\b(?:guarantee|promise)",
        r"不(?:能|敢)?(?:保证|打包票)",
        r"没法保证", r"无法保证",
    ],
    # Asking what the customer compares is discovery, not differentiation.
    "differentiate": [r"(?:哪些|哪方面|哪几|什么).{0,6}[？?]$", r"^(?:what|which|how)\b.*\?$"],
    "pressure": [r"\bno (?:rush|pressure)\b", r"\btake (?:the|your) time\b", r"不(?:用)?着急", r"慢慢考虑"],
    "argue": [r"\bnot saying you'?re wrong\b", r"不是说您不对", r"说得(?:对|没错|有道理)",
    r"\byou'?re (?:absolutely )?right\b"],
    "probe": [r"(?:is that right|对吗)[？?]?$", r"还考虑什么|考虑什么呀|有什么好考虑"],
    "acknowledge": [r"理解错|没搞明白|不明白|没理解|误解"],
    "open_question": [r"签约|签合同|启动|下单|您看(?:怎么样|可以吗|行吗)", r"顾虑|担心|犹豫|不放心|比较的",
                      # A Chinese statement without a question mark is not a question.
                      r"^[^?？a-zA-Z]*[\u4e00-\u9fff][^?？a-zA-Z]*$"],
    "close": [r"\b(?:not|don'?t) (?:ready|need to decide)\b"],
}

COMPILED = {name: [re.compile(p, re.IGNORECASE) for p in ps] for name, ps in RULES.items()}
COMPILED_GUARDS = {name: [re.compile(p, re.IGNORECASE) for p in ps] for name, ps in GUARDS.items()}
SENTENCE = re.compile(r"(?<=[。！？!?；;])\s*|(?<=[.])\s+|\s+[—–-]{1,2}\s+|(?<=[，,])\s*(?=(?:但|but\b|不过))")

# A violation costs the rep points, so it must be found with more certainty than a technique followed.
STRICT = frozenset(name for name, t in TECHNIQUES.items() if t.verdict == "violated")
# The rules enter the model as features, scaled so they inform it without drowning the embedding
# (chosen by cross-validation on the training data: mean F1 0.705 without them, 0.729 with them).
RULE_FEATURE_SCALE = 0.5
# What a clause must mention for a detection to be believable: a discount talks about price, a story has
# another customer, an open question asks something.
PRICE_OR_EXTRA = re.compile(
    r"price|%|percent|off\b|discount|reduc|rate|lower|free|waive|include|add|extra|support|training|months?|"
    r"payment|instal|defer|invoice|billing|"
    r"down|maintenance|warranty|价|折|优惠|让|免|送|减|降|费|维保|保修|服务|培训|包含|包括|"
    r"付款|首付|尾款|账期|分期|发票|开票",  # payment terms are a give too: "首付款放到下个季度"
    re.IGNORECASE,
)
# A concession gives something (a price, an extra) for something: the second part is the model's to see.
CONCESSION_TERMS = r"|term|\d|付款|分期|账期|延长"
PRECONDITIONS = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "discount": r"pric|discount|%|percent|\boff\b|cheap|lower|\bcut|knock|reduc|match|rate|free|waive|\d|"
                    r"payment|invoice|defer|"
                    r"价|折|优惠|便宜|降|减|让|抹|少收|返点|零头|免|送|付款|首付|尾款|账期|分期|发票",
        "concession": PRICE_OR_EXTRA.pattern + CONCESSION_TERMS,
        "story": r"client|customer|compan|firm|team|hospital|manufactur|retailer|distributor|bank|school|plant|"
                 r"maker|producer|supplier|factory|chain|store|shop|group|brand|mill|warehouse|hotel|clinic|user|"
                 r"one of|someone|they|客户|公司|企业|医院|工厂|厂|单位|他们|一家|有家|那家|同行|商家|连锁|"
                 r"门店|集团|用户",
        "open_question": r"\?|？|\b(what|how|why|which|who|when|where|tell me|walk me|describe|explain)\b|"
                         r"怎么|什么|哪些|哪|为什么|如何|说说|讲讲|介绍|吗|呢",
    }.items()
}
# Moves one sentence cannot make at once: the vote of neighbours in embedding space cannot see polarity, so "您这个说法
# 不对" sits among "您说得对" acknowledgements.
OPPOSED = (("acknowledge", "argue"),)
# A question asks; it does not state value, tell a story or set us apart.
STATEMENTS = frozenset({"value", "story", "differentiate"})
QUESTION = re.compile(r"[?？]\s*$|[吗呢][？?]?\s*$")
# Messages at least this long (characters) carry a point even when no move is recognised in them.
SUBSTANTIVE_EN, SUBSTANTIVE_ZH = 40, 15
CJK = re.compile(r"[\u4e00-\u9fff]")
# How sure the fact model must be that a clause asks for a fact: less for a clause that is a question.
FACT_FLOOR, FACT_FLOOR_QUESTION = 0.5, 0.3
# A question whose second-best slot scores at least this share of the best is ambiguous: the customer may answer both.
# On held-out folds of the training clauses 27% of fact questions were, and the right slot was the first reading for
# 52% of them and one of the two for 82% (81% and 93% over all fact questions).
AMBIGUOUS_SHARE = 0.3
LEADING_CONJUNCTION = re.compile(r"^\s*(?:(?:but|and|so|however|though)\b|不过|但是|但|可是|而且|所以)[\s,，、]*",
                                 re.IGNORECASE)
LINEAR_SURE = 0.98  # writer-held-out folds: violation precision 0.875 -> 0.868, recall 0.709 -> 0.718
MAX_CLAUSES = 12
KINDS = ("normal", "filler", "greeting", "repeat_request", "meta")
KIND_FLOOR, NOT_A_MOVE = 0.6, 0.1
# What asking for the order sounds like. A "close" that asks for none of it (a payback summary for the CFO, a call
# next week) proposes a next step: before a buying signal that is not a premature close, and it earns no close.
COMMITMENT = re.compile(
    r"\bsign|contract|\border|\bPO\b|purchase|go ahead|move forward with|\bdeal\b|commit|agreement|paperwork|"
    r"start date|kick ?off|lock (?:it|this|that) in|pilot|trial|\bstart\b|"
    r"签|合同|下单|订单|定下来|定了|拍板|成交|合作|启动|开始|试点|试用|付款|采购|订",
    re.IGNORECASE,
)

# A question that proposes when to meet ("does Tuesday work for a call with your CFO?", "您看周三还是周四方便？") asks
# for a slot in the diary, not a fact about the customer's business: it needs a time and a meeting, and it asks.
MEETING_TIME = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\btomorrow\b|\bnext week\b|\bthis week\b|\bmorning\b|"
    r"\bafternoon\b|\b\d{1,2}(?::\d\d)?\s?(?:am|pm)\b|\bwhat time\b|\bwhen (?:is|would) (?:a )?good time\b|"
    r"周[一二三四五六日末]|星期[一二三四五六日天]|礼拜[一二三四五六天]|明天|后天|下周|这周|本周|上午|下午|几点|哪天|"
    r"什么时候方便|哪个时间",
    re.IGNORECASE,
)
MEETING_ASK = re.compile(
    r"\b(?:call|meet|met|meeting|together|join|catch up|sit down|demo|visit|come by|drop by|stop by|session|invite|"
    r"calendar|slot|works? for you|free|available|suit|see you|come (?:over|in|round)|swing by|pop by|bring)\b|"
    r"约|见面|见一下|见您|等您|等你|碰|开会|会议|过一下|过一遍|方便|有空|拜访|上门|(?<![发传寄])过[去来]|演示|聊一下|坐下来|"
    r"一起.{0,6}(?:过|聊|看|碰|对)",
    re.IGNORECASE,
)
PROPOSAL = re.compile(r"[?？]|[吗呢]\s*$|\bhow about\b|\bwhat about\b|\bshall we\b|\blet'?s\b|您看|你看|怎么样|行不行|"
                      r"可以吗|好吗|好不好", re.IGNORECASE)


def proposes_meeting(clause: str) -> bool:
    """Whether a clause proposes a time to meet rather than asking about the customer's business."""
    return bool(MEETING_TIME.search(clause) and MEETING_ASK.search(clause) and PROPOSAL.search(clause))


@dataclass(frozen=True)
class Detection:
    """A technique found in a message, with the rep's words that show it."""

    technique: str
    evidence: str
    source: str  # "model", or "rule" when no model is trained for the embedder
    score: float

    @property
    def standard(self) -> str:
        """Return the standard id this technique bears on."""
        return TECHNIQUES[self.technique].standard


@dataclass(frozen=True)
class FactAsk:
    """A fact the rep asked the customer for, and the clause that asks it."""

    slot: str
    evidence: str
    score: float
    alternative: bool = False  # the second reading of a question the model could not place firmly


@dataclass
class Analysis:
    """Everything the engine and the scorer need to know about one rep message."""

    detections: list[Detection] = field(default_factory=list)
    facts: list[FactAsk] = field(default_factory=list)
    kind: str = "normal"

    substantive: bool = False  # long enough to carry a point (a rep's plan, an explanation)
    meeting: bool = False  # proposes a time to meet ("does Tuesday work for a call?")

    @property
    def techniques(self) -> set[str]:
        """Return the names of the techniques detected."""
        return {d.technique for d in self.detections}


def sentences(text: str) -> list[str]:
    """Split a message into sentences (Chinese and English punctuation)."""
    parts = [p.strip() for p in SENTENCE.split(text.strip()) if p and p.strip()]
    return parts or [text.strip()]


def load_exemplars(paths: tuple[Path, ...] = EXEMPLARS) -> list[dict[str, object]]:
    """Read the labelled exemplars of the first detector (training data for the model now)."""
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            unknown = set(row["labels"]) - set(TECHNIQUES)
            if unknown:
                raise ValueError(f"{path.name} line {n}: unknown technique(s) {sorted(unknown)}")
            rows.append(row)
    return rows


def _guarded(technique: str, text: str) -> bool:
    return any(p.search(text) for p in COMPILED_GUARDS.get(technique, []))


def rule_hits(text: str) -> set[str]:
    """Return the techniques whose rules match `text`, after guards."""
    hits = {name for name, patterns in COMPILED.items() if any(p.search(text) for p in patterns)}
    return {t for t in hits if not _guarded(t, text)}


def lexical_features(texts: list[str]) -> np.ndarray:
    """Rule matches and "is a question", one column each: what an embedding of a clause misses."""
    names = list(COMPILED)
    rows = []
    for text in texts:
        hits = rule_hits(text)
        rows.append([*(name in hits for name in names), bool(QUESTION.search(text))])
    return np.asarray(rows, dtype=np.float32) * RULE_FEATURE_SCALE


class Detector:
    """Analyse rep messages with the trained models for this embedder (rules alone when none is shipped)."""

    def __init__(self, embedder: Embedder, folder: Path = MODELS) -> None:
        self.embedder = embedder
        self.techniques = load_for(folder, "techniques", embedder)
        self.neighbours = _neighbours(folder, embedder, self.techniques)
        self.facts = load_for(folder, "facts", embedder)
        self.kinds = load_for(folder, "kind", embedder)
        if self.techniques is None:
            log.warning("no trained role-play model for embedder %s: run `coach train`; using rules only",
                        embedder.name)

    def detect(self, message: str) -> list[Detection]:
        """Return the techniques in `message`, each with the clause that shows it."""
        return self.analyse(message).detections

    def detect_many(self, messages: list[str]) -> list[list[Detection]]:
        """Detect techniques in several messages with one embedding call."""
        return [a.detections for a in self.analyse_many(messages)]

    def analyse(self, message: str) -> Analysis:
        """Return techniques, facts asked and the kind of one message."""
        return self.analyse_many([message])[0]

    def analyse_many(self, messages: list[str]) -> list[Analysis]:
        """Analyse several messages; every clause and every whole message is embedded in one call."""
        # Bounded work per message however long it is: at most MAX_CLAUSES clauses, each read to a bounded prefix.
        units = [[analysed_prefix(c, MAX_ANALYSED_TOKENS) for c in sentences(m)[:MAX_CLAUSES]] for m in messages]
        messages = [analysed_prefix(m, MAX_ANALYSED_TOKENS) for m in messages]
        # A clause split off before "but" / "不过" is read without its conjunction: alone, the short fragment's
        # embedding is mostly the conjunction ("but I'll check with engineering." sat among arguing "but…" lines).
        flat = [LEADING_CONJUNCTION.sub("", u) or u for parts in units for u in parts]
        needs_vectors = any(m is not None for m in (self.techniques, self.facts, self.kinds))
        vectors = embed_features(self.embedder, flat + messages) if needs_vectors and flat else None
        results, start = [], 0
        for i, (message, parts) in enumerate(zip(messages, units, strict=True)):
            clause_x = vectors[start:start + len(parts)] if vectors is not None else None
            read = flat[start:start + len(parts)]
            tech_x = np.hstack([clause_x, lexical_features(read)]) if clause_x is not None else None
            message_x = vectors[len(flat) + i] if vectors is not None else None
            start += len(parts)
            detections = self._techniques(message, parts, tech_x, clause_x)
            meeting = [p for p in parts if proposes_meeting(p)]
            # "What time works for you, morning or afternoon?" is not small talk, whatever its length.
            kind = "normal" if meeting else self._kind(message, message_x)
            results.append(Analysis(
                detections=detections,
                # A probe may ask for a fact too ("what would your CFO need to see?" digs and asks for criteria): the
                # facts model, trained on probes with and without one, decides. "How's your week going?" in a
                # greeting asks for no fact the customer would have to look up.
                facts=[f for f in self._facts(parts, clause_x)
                       if not (kind != "normal" and f.slot == "other") and f.evidence not in meeting],
                kind=kind,
                meeting=bool(meeting),
                substantive=len(message) >= (SUBSTANTIVE_ZH if CJK.search(message) else SUBSTANTIVE_EN),
            ))
        return results

    def _techniques(self, message: str, parts: list[str], x: np.ndarray | None, clause_x: np.ndarray | None
                    ) -> list[Detection]:
        found: dict[str, Detection] = {}
        model = self.techniques
        probs = model.scores(x) if model is not None and x is not None else None
        if probs is not None and self.neighbours is not None and clause_x is not None:
            assert model is not None
            blend = float(model.meta["neighbours"])  # type: ignore[arg-type]
            blended = blend * probs + (1 - blend) * self.neighbours.scores(clause_x)
            # The vote may raise a label the linear model is unsure of, not veto one it is sure of: neighbours in
            # embedding space cannot see polarity ("您这个说法不对" sits among "您说得对" acknowledgements).
            probs = np.where(probs >= LINEAR_SURE, np.maximum(blended, model.thresholds), blended)
        for row, clause in enumerate(parts):
            candidates: dict[str, Detection] = {}
            if model is None or probs is None:
                candidates = {t: Detection(t, clause, "rule", 1.0) for t in rule_hits(clause)}
            else:
                for j, name in enumerate(model.labels):
                    p = float(probs[row, j])
                    if p >= float(model.thresholds[j]):
                        candidates[name] = Detection(name, clause, "model", round(p, 3))
            for name in list(candidates):
                pre = PRECONDITIONS.get(name)
                if _guarded(name, clause) or (pre is not None and not pre.search(clause)) or (
                        name in STATEMENTS and QUESTION.search(clause)):
                    del candidates[name]
            for name in [n for n in candidates if TECHNIQUES[n].verdict == "violated"]:
                # One clause is not both a good and a bad move on the same standard: a violation needs the
                # stronger evidence, so it stands only when the model is surer of it than of the good move.
                rivals = [d.score for n, d in candidates.items()
                          if n != name and TECHNIQUES[n].standard == TECHNIQUES[name].standard]
                if rivals and max(rivals) >= candidates[name].score:
                    del candidates[name]
            for good, bad in OPPOSED:
                # Agreeing with the customer and contradicting them in one sentence: the surer reading stands, and
                # a tie goes to the good move (a violation needs the stronger evidence).
                if good in candidates and bad in candidates:
                    del candidates[bad if candidates[good].score >= candidates[bad].score else good]
            for name, det in candidates.items():
                if name not in found or det.score > found[name].score:
                    found[name] = det
        return _reconcile(found, message)

    def _facts(self, parts: list[str], x: np.ndarray | None) -> list[FactAsk]:
        if self.facts is None or x is None:
            return []
        asks: dict[str, FactAsk] = {}
        labels = self.facts.labels
        alternatives: dict[str, FactAsk] = {}
        for clause, probs in zip(parts, self.facts.scores(x), strict=True):
            # The best slot other than "none": a question needs less evidence that it asks for a fact.
            order = [j for j in np.argsort(-probs) if labels[j] != "none"]
            slot, p = labels[order[0]], float(probs[order[0]])
            question = bool(QUESTION.search(clause))
            floor = FACT_FLOOR_QUESTION if question else FACT_FLOOR
            # A fact outside the sheet can only get "I don't know offhand": it needs the full floor even in a question
            # ("您看周三还是周四方便？"). Below it the runner-up is still a quiet reading.
            sure = slot != "other" or p >= FACT_FLOOR
            if sure and p >= floor and (slot not in asks or p > asks[slot].score):
                asks[slot] = FactAsk(slot, clause, round(p, 3))
            second, p2 = labels[order[1]], float(probs[order[1]])
            if question and p >= floor and p2 >= AMBIGUOUS_SHARE * p:
                alternatives[second] = FactAsk(second, clause, round(p2, 3), alternative=True)
        extra = [a for s, a in alternatives.items() if s not in asks]
        return sorted(asks.values(), key=lambda a: -a.score) + sorted(extra, key=lambda a: -a.score)

    def _kind(self, message: str, x: np.ndarray | None) -> str:
        if self.kinds is None or x is None:
            return "normal"
        probs = self.kinds.scores(x)[0]
        best = int(np.argmax(probs))
        kind, p = self.kinds.labels[best], float(probs[best])
        normal = float(probs[self.kinds.labels.index("normal")]) if "normal" in self.kinds.labels else 0.0
        # Small talk needs a sure reading, unless the model is sure the message is not a move at all ("hey, thanks
        # for taking the call": greeting 0.57, normal 0.03 used to get the customer's "that doesn't answer me").
        return kind if p >= KIND_FLOOR or normal < NOT_A_MOVE else "normal"



def _neighbours(folder: Path, embedder: Embedder, model: LinearModel | None) -> Neighbours | None:
    """Return the nearest-neighbour vote trained with the techniques `model`, when that model blends one in."""
    if model is None or not model.meta.get("neighbours"):
        return None
    path = model_path(folder, "techniques-neighbours", feature_name(embedder))
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: the techniques model was trained with it; run `coach train`")
    return Neighbours.load(path)


def _reconcile(found: dict[str, Detection], message: str) -> list[Detection]:
    """Resolve detections that cannot both hold for one message."""
    if "concession" in found and not _price_or_extra(message):
        del found["concession"]
    if "pressure" in found and "close" in found and found["pressure"].evidence == found["close"].evidence:
        # Asking for the order under an ultimatum is pressure, not a close on a buying signal.
        del found["close"]
    order = list(TECHNIQUES)
    return sorted(found.values(), key=lambda d: order.index(d.technique))




def _price_or_extra(message: str) -> bool:
    return bool(PRICE_OR_EXTRA.search(message))
