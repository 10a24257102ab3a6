"""Rebuild the clean simplified-Chinese text of the source document.

One-off provenance script: `python scripts/clean_source.py RAW.txt` prints the
document body with the scrape's defects repaired (see knowledge/README.md).
The knowledge base in knowledge/ was generated from this output and then
edited by hand; it is not regenerated at build time.
"""

import re
import sys

from opencc import OpenCC

PINYIN = re.compile(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùüǖǘǚǜ]+\)")
FULL_WIDTH = {",": "，", ":": "：", "?": "？", "(": "（", ")": "）"}


def clean(raw: str) -> str:
    """Return the document body as clean simplified Chinese."""
    body = raw.split("文檔簡介", 1)[1].split("溫馨提示", 1)[0]
    text = OpenCC("t2s").convert(PINYIN.sub("", body)).strip()
    text = text.replace("带著", "带着").replace("新的需求??赏ㄟ^电话", "新的需求。可通过电话")
    for half, full in FULL_WIDTH.items():
        text = text.replace(half, full)
    return text


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        print(clean(fh.read()))
