"""Classify a rep's message without an LLM: coaching question, off-topic, injection attempt, or unethical request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.knowledge.embedder import Embedder

Intent = Literal["coaching", "off_topic", "injection", "unethical"]

# Attempts to read the hidden prompt, switch the assistant's role, or lift its rules.
INJECTION = [
    r"\b(system|initial|hidden|original|full|secret)\s*(prompt|instructions?|message|config|configuration|rules)\b",
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,30}\b(instructions?|rules|guidelines|restrictions|"
    r"polic(y|ies)|prompt|your role|you'?re an?)\b",
    r"\b(developer|dev|god|jailbreak|unfiltered|unrestricted|debug)\s*mode\b",
    r"\bDAN\b",
    r"\b(repeat|print|output|reveal|paste|dump|translate|recite|leak)\b.{0,50}"
    r"\b(prompt|instructions|rules|configuration|the text above|everything above|first message)\b",
    r"\b(rules|instructions|guidelines) (you|u) (follow|were given|have been given)\b",
    r"\b(initial|your) prompt\b",
    r"\byou are (now|no longer)\b",
    r"\b(pretend|act as if|imagine)\b.{0,40}\b(no|without)\b.{0,15}\b(rules|restrictions|limits|policies|filters?)",
    r"\b(unfiltered|uncensored) (ai|assistant|mode|version)\b",
    r"\brestriction has been lifted\b|\bsystem override\b",
    r"<\s*/?\s*system\s*>",
    r"(系统|初始|隐藏|原始|完整).{0,4}(提示词|提示|指令|设定|prompt|配置)",
    r"(提示词|系统设定|你的设定|你的规则|你的指令|隐藏指令)",
    r"(忽略|无视|忘掉|忘记|绕过|解除).{0,12}(指令|规则|限制|设定|角色|身份|规定)",
    r"(开发者|调试|越狱|上帝)模式",
    r"(没有|不受|无)任何?(限制|规则|约束)",
    r"(原样|逐字|一字不改|一个字都别改).{0,10}(输出|复述|重复|列出|发)",
    r"(重复|输出|复述).{0,12}(上面的|上面|第一条|收到的)",
    r"你(现在)?不(再)?是.{0,6}(教练|助手)",
    r"角色已?(解除|取消)",
    r"(解锁|越狱).{0,10}(限制|忽略)|忽略所有限制",
    r"扮演\s*DAN",
]
# Help with deceiving, bribing, stealing data or exploiting customers.
UNETHICAL = [
    # A bribe asked for or offered, either way round: the answer is compliance's, and the refusal says so.
    r"\b(kickbacks?|bribe[sd]?|bribery|backhanders?|facilitation (fee|payment)s?)\b",
    r"\b(how|way|safest|best|help me)\b.{0,40}\bpay off",
    r"\bslip\b.{0,30}\b(cash|money|envelope)",
    r"(not|won'?t|doesn'?t)\s+(show up|look|count|be seen)\s+as\s+a\s+bribe",
    r"\b(write|make|create|generate|help me|how (do|can|should) i|way to)\b.{0,25}\b(fake|forge|fabricate|falsify|"
    r"counterfeit)\w*",
    r"\b(fake|forged|made[- ]up|fabricated|falsified)\b.{0,20}\b(reference|testimonial|case stud|review|letter|"
    r"invoice|certificate|signature|document|quote|receipt)",
    r"\bwithout (them|him|her|the customer|the client|the prospect|their) (knowing|consent|noticing|permission)",
    r"\bbehind (their|his|her|the customer'?s|the client'?s) back\b",
    r"\bhack\w*\s+(into|their|the|a)\b|\bbreak into\b|\bphish\w*",
    r"\bsteal\w*\b.{0,25}\b(data|list|login|password|credentials|information|account)",
    r"\b(ex-?|former )(employee|colleague|staff|rep)s?\b.{0,50}\b(client list|customer list|price list|pricing sheet|"
    r"contracts?)\b",
    r"\b(access|use|grab|log ?in)\w*\b.{0,30}\b(someone else'?s|colleague'?s|another rep'?s|former colleague'?s)\b",
    r"\bsounds? like we('re| are) (certified|accredited|licensed)\b",
    r"\b(pretend|impersonat\w*|pose as)\b.{0,40}\b(bank|police|government|their boss|ceo|official|the customer'?s)",
    r"\b(hide|hidden|bury|sneak)\b.{0,30}\b(fee|fees|charge|charges|clause|costs?)\b",
    r"\b(pressure|trick|scare|manipulate|fool)\w*\b.{0,60}\b(elderly|senior|retiree|widow|old people|vulnerable|"
    r"memory problems|dementia)",
    r"\b(sell|leak)\w*\b.{0,30}\b(personal (data|information)|phone numbers|contact data)\b",
    r"(偷偷|私下|背着|瞒着|不让.{0,4}知道).{0,20}(查|获取|拿到|弄到|打听).{0,10}(身份证|住址|家庭|手机号|隐私|个人信息|账号)",
    r"(塞|给|送|私下给).{0,6}红包|行贿|受贿|贿赂|(怎么|如何).{0,6}塞钱|回扣|好处费",
    r"(编|捏造|伪造|刷|虚构).{0,10}(差评|好评|评价|合同|签字|报价|证书|资质|发票|记录)",
    r"假的?.{0,4}(推荐信|证明|评价|发票|合同|签字|证书|报价单)",
    r"(以为|误以为|让他觉得|让客户觉得).{0,8}我们有",
    r"(隐藏|暗藏|偷偷加|看不出).{0,10}(收费|费用|条款)|(收费|费用|条款).{0,10}(看不出|发现不了)",
    r"(老年人|老人|老太太|老大爷).{0,20}(好骗|忽悠|骗)",
    r"(黑进|入侵|破解|盗取|窃取)",
    # A competitor's or former employer's confidential data through people who left it.
    r"(离职员工|前员工|前同事|老东家|内线|内鬼).{0,20}(客户名单|客户资料|报价|价格表|底价|合同)",
    r"(冒充|假扮|假冒).{0,20}(领导|银行|客户|公安|政府|官方)",
    r"(绕过|未经).{0,10}(授权|同意).{0,20}(卖|提供|泄露|转卖|手机号|个人信息)",
    r"(卖给|转卖).{0,10}(合作方|第三方|别人)",
]
# Words that mark a message as being about selling or customer work.
SALES_WORDS = re.compile(
    r"\b(customer|client|prospect|buyer|lead|deal|sale|sales|sell|selling|pitch|quote|proposal|discount|price|"
    r"pricing|objection|negotiat\w*|close|closing|contract|procurement|decision maker|demo|follow[- ]?up|"
    r"competitor|renewal|upsell|cross-sell|onboarding|account|cold call|prospecting|rep|quota|pipeline|"
    r"budget|stakeholder|vendor|supplier|complain\w*|churn|signing|signed)s?\b|"
    r"(客户|顾客|销售|成交|签单|签约|合同|报价|折扣|降价|打折|谈判|异议|竞品|竞争对手|采购|拍板|决策|方案|回访|"
    r"跟进|逼单|拜访|开发|线索|需求|预算|投诉|交付|续约|供应商|老板|领导|演示|价格|太贵|嫌贵|便宜|优惠)",
    re.IGNORECASE | re.ASCII,
)
# Requests that are clearly something else even when they mention sales (code, maths, recipes...).
OFF_TOPIC_TASKS = re.compile(
    r"\b(python|javascript|sql|regex|integral|derivative|equation|poem|haiku|lyrics|recipe|weather|bitcoin|"
    r"crypto(currency)?|horoscope)\b|\bexcel (formula|function)|\b(write|fix|debug) (a |this |my )?(code|function|"
    r"program|query)\b|"
    r"(代码|爬虫|Excel公式|SUMIF|VLOOKUP|写一首|首诗|歌词|菜谱|做菜|天气|股价|指数|比特币|星座)",
    re.IGNORECASE | re.ASCII,
)
# Topics a sales coach does not cover; used as nearest-neighbour anchors against the knowledge base.
OFF_TOPIC_ANCHORS = [
    "What will the weather be like tomorrow?", "明天会下雨吗？", "Give me a recipe for dinner tonight.",
    "这道菜怎么做好吃？", "Write a poem about the sea.", "帮我写一首诗。", "Who won the football match last night?",
    "昨晚的球赛谁赢了？", "What is the square root of 144?", "这道数学题怎么解？", "Plan a holiday trip for me.",
    "旅游路线怎么安排？", "I have a fever, what medicine should I take?", "感冒了吃什么药？",
    "Recommend a good movie or book.", "推荐一部好看的电视剧。", "Explain how a computer chip works.",
    "量子力学是什么？", "What's the capital of France?", "世界上最高的山是哪座？", "How are you today?",
    "你喜欢什么颜色？", "Convert dollars to euros.", "今天股市涨了吗？", "Write code to sort a list.",
    "帮我写一段程序。", "Translate this sentence into French.", "帮我翻译这句话。",
    "Birthday gift ideas for my partner.", "周末去哪里玩？",
]


@dataclass(frozen=True)
class IntentResult:
    """The detected intent and why."""

    intent: Intent
    reason: str
    domain: float = 1.0


class IntentClassifier:
    """Rules for injection and unethical requests; rules plus embedding neighbours for off-topic."""

    def __init__(self, embedder: Embedder, domain_vectors: np.ndarray) -> None:
        self._embedder = embedder
        # ASCII word boundaries, so that "prompt" is a word in "system prompt翻译" too.
        self._injection = [re.compile(p, re.IGNORECASE | re.ASCII) for p in INJECTION]
        self._unethical = [re.compile(p, re.IGNORECASE | re.ASCII) for p in UNETHICAL]
        self._domain = domain_vectors
        self._off_topic = embedder.embed_documents(OFF_TOPIC_ANCHORS)

    def classify(self, message: str, vector: np.ndarray | None = None, rules_only: bool = False) -> IntentResult:
        """Return the intent of one message; with rules_only, only injection and unethical rules are checked."""
        for pattern in self._injection:
            if pattern.search(message):
                return IntentResult("injection", f"matches {pattern.pattern[:40]!r}")
        for pattern in self._unethical:
            if pattern.search(message):
                return IntentResult("unethical", f"matches {pattern.pattern[:40]!r}")
        if rules_only:
            return IntentResult("coaching", "no rule matched")
        on_topic_words = bool(SALES_WORDS.search(message))
        if OFF_TOPIC_TASKS.search(message):
            return IntentResult("off_topic", "asks for a non-sales task")
        vector = self._embedder.embed_query(message) if vector is None else vector
        domain = float(np.max(self._domain @ vector)) if len(self._domain) else 0.0
        other = float(np.max(self._off_topic @ vector))
        if not on_topic_words and other > domain:
            return IntentResult("off_topic", f"closer to off-topic anchors ({other:.2f} > {domain:.2f})", domain)
        return IntentResult("coaching", f"domain {domain:.2f}, off-topic {other:.2f}", domain)
