"""Verification of a semantic candidate: what sentence embeddings are blind to.

all-MiniLM-L6-v2 scores "Proposition 54" / "Proposition 55", "good for dogs" / "bad for dogs" and
"liters to kilograms" / "kilograms to liters" above 0.96: the vectors barely move when a number,
a negation, an antonym or the direction of a relation changes, but the right answer does. These
rules compare the two texts' surface forms and reject a pair that differs in any of them; the
learned scorer (runtime/cache/scorer.py) then weighs the remaining lexical evidence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|[&/]")

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12, "dozen": 12, "half": 0.5,
    "single": 1, "double": 2, "triple": 3, "twice": 2, "thrice": 3,
}  # fmt: skip
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "twentieth": 20, "hundredth": 100, "last": -1,
    "penultimate": -2, "final": -1, "next": -3, "previous": -4,
}  # fmt: skip
ROMAN = {"ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10, "xi": 11, "xii": 12}
NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "hasnt",
        "havent",
        "hadnt",
        "mustnt",
        "neednt",
        "aint",
    ]
)
_ANTONYM_PAIRS = """
good bad; better worse; best worst; pro con; pros cons; advantage disadvantage; benefit harm; safe dangerous;
safe unsafe; healthy unhealthy; increase decrease; increase reduce; raise lower; more less; more fewer;
most least; maximum minimum; max min; high low; higher lower; highest lowest; big small; bigger smaller;
biggest smallest; large small; larger smaller; largest smallest; long short; longer shorter; fast slow;
faster slower; fastest slowest; hot cold; warm cold; heavy light; cheap expensive; cheapest expensive;
rich poor; buy sell; buying selling; before after; early late; earlier later; start end;
begin end; open close; up down; upload download; inside outside; import export;
input output; win lose; winning losing; pass fail; true false; right wrong; correct incorrect;
positive negative; legal illegal; possible impossible; same different; similar different; like dislike;
love hate; agree disagree; accept reject; allow forbid; allow prohibit; include exclude; add remove;
enable disable; encrypt decrypt; compress decompress; push pull; send receive; give take;
lend borrow; male female; man woman; men women; boy girl; boys girls; husband wife;
father mother; son daughter; brother sister; king queen; north south; east west; left right;
top bottom; front back; above below; inner outer; min max; easy hard; easy difficult;
simple complex; happy sad; young old; new old; newer older; modern ancient; old young; alive dead;
life death; light dark; white black; day night; summer winter; wet dry; full empty; strong weak;
rise fall; gain lose; gain loss; profit loss; success failure; succeed fail; always never; all none;
everyone nobody; import export; employer employee; landlord tenant; buyer seller; debit credit;
asset liability; deposit withdraw; before after; past future; odd even; plus minus; love hate;
vegetarian vegan; mac windows; android ios; democrat republican; liberal conservative; capitalism socialism
"""
ANTONYMS: dict[str, set[str]] = {}
for _pair in _ANTONYM_PAIRS.replace("\n", " ").split(";"):
    _words = _pair.split()
    if len(_words) == 2:
        ANTONYMS.setdefault(_words[0], set()).add(_words[1])
        ANTONYMS.setdefault(_words[1], set()).add(_words[0])
_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "anti", "de")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "us",
        "our",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "it",
        "its",
        "they",
        "them",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "this",
        "that",
        "these",
        "those",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "as",
        "into",
        "through",
        "during",
        "to",
        "from",
        "in",
        "on",
        "off",
        "how",
        "why",
        "when",
        "where",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "there",
        "here",
        "so",
        "than",
        "too",
        "very",
        "just",
        "also",
        "s",
        "t",
        "any",
        "some",
        "such",
        "own",
        "if",
        "or",
        "and",
        "but",
        "because",
        "until",
        "while",
        "get",
        "got",
        "one",
        "ones",
        "way",
        "ways",
        "best",
        "good",
        "much",
        "many",
        "really",
        "quora",
    ]
)
SYMMETRIC = frozenset({"and", "or", "vs", "versus", "&", "/", "with", "between"})


def tokens(text: str) -> list[str]:
    return [t.lower().replace("'", "") if not t[0].isdigit() else t.lower() for t in _TOKEN.findall(text)]


def stem(word: str) -> str:
    for suffix in ("ies", "ing", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _numbers(toks: list[str], raw: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for t in toks:
        if t[0].isdigit() and not t.endswith(("st", "nd", "rd", "th")):
            found[t.replace(",", "")] += 1
        elif t in NUMBER_WORDS and t not in {"one", "single"}:
            # "one" is mostly a pronoun ("how does one...")
            found[str(NUMBER_WORDS[t])] += 1
    return found


def _ordinals(toks: list[str], raw: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for t in toks:
        if t[0].isdigit() and t.endswith(("st", "nd", "rd", "th")):
            found[t[:-2]] += 1
        elif t in ORDINAL_WORDS:
            found[str(ORDINAL_WORDS[t])] += 1
    for word in re.findall(r"\b([IVX]{2,4}|V|X)\b", raw):
        if word.lower() in ROMAN:
            found[str(ROMAN[word.lower()])] += 1
    return found


def _negations(toks: list[str], raw: str) -> int:
    count = sum(1 for t in toks if t in NEGATIONS)
    # "... or not?", "why or why not?": asks both ways, negates nothing
    count -= len(re.findall(r"\bor (?:why )?not\b", raw, flags=re.IGNORECASE))
    # an answer's leading "No," is a reply, not a negated statement
    count -= len(re.findall(r"(?:^|[.!?]\s+)no,", raw, flags=re.IGNORECASE))
    return count


def content(toks: list[str]) -> list[str]:
    return [stem(t) for t in toks if t not in STOPWORDS and t not in NEGATIONS and not t[0].isdigit()]


def _antonym_clash(a: set[str], b: set[str]) -> str | None:
    for word in a - b:
        for other in ANTONYMS.get(word, ()):
            if other in b and other not in a:
                return f"{word}/{other}"
        for prefix in _NEG_PREFIXES:
            base = word[len(prefix) :]
            if word.startswith(prefix) and len(base) >= 4 and base in b and base not in a:
                return f"{word}/{base}"
            if (prefix + word) in b and (prefix + word) not in a and len(word) >= 4:
                return f"{word}/{prefix + word}"
    return None


_FILLER = frozenset({"a", "an", "the", "is", "are", "was", "were", "be", "been", "it", "its"})
_MAX_GAP = 5


def _swap(ta: list[str], tb: list[str]) -> str | None:
    """Two shared words in opposite order around the same pivot ("liters to kilograms" /
    "kilograms to liters", "a girl ignores a boy" / "a boy ignores a girl", "X better than Y" /
    "Y better than X"). Reorderings without a shared pivot in between ("IIT coaching" / "coaching
    for IIT") and symmetric joins ("X and Y", "X or Y", "X vs Y") are not swaps."""
    sa = [stem(t) for t in ta]
    sb = [stem(t) for t in tb]
    ca, cb = content(ta), content(tb)
    shared = [w for w in dict.fromkeys(ca) if w in cb and sa.count(w) == 1 and sb.count(w) == 1]
    for i, first in enumerate(shared):
        for second in shared[i + 1 :]:
            ia, ja = sa.index(first), sa.index(second)
            ib, jb = sb.index(first), sb.index(second)
            if (ia < ja) == (ib < jb):
                continue
            between_a = set(sa[min(ia, ja) + 1 : max(ia, ja)])
            between_b = set(sb[min(ib, jb) + 1 : max(ib, jb)])
            if not between_a or not between_b or len(between_a) > _MAX_GAP or len(between_b) > _MAX_GAP:
                continue
            if (between_a | between_b) & SYMMETRIC:
                continue
            pivots = (between_a & between_b) - _FILLER
            if pivots:
                return f"{first}<->{second} around {sorted(pivots)[0]}"
    return None


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.+#-]*[A-Za-z0-9+#]|[A-Za-z]")


def _entities(text: str) -> set[str]:
    """Names, places, products: capitalised or alphanumeric words that do not open a sentence."""
    found = set()
    for sentence in re.split(r"[?.!\n]+", text):
        words = _WORD.findall(sentence)
        for word in words[1:]:
            if word != "I" and (word[0].isupper() or any(c.isdigit() for c in word)):
                found.add(stem(word.lower()))
    return found


def _entity_mismatch(a: str, b: str, ta: list[str], tb: list[str]) -> str | None:
    """A name in one text that the other never mentions ("... compare to Austria" / "... to Australia")."""
    sa = {stem(t) for t in ta} | {t for t in ta}
    sb = {stem(t) for t in tb} | {t for t in tb}
    missing = sorted({e for e in _entities(a) if e not in sb} | {e for e in _entities(b) if e not in sa})
    return ", ".join(missing) if missing else None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None
    """'number', 'ordinal', 'negation', 'antonym', 'swap' or 'entity' when rejected."""
    detail: str | None = None


def check(a: str, b: str, *, entities: bool = True) -> Verdict:
    """Reject a pair whose texts differ in numbers, ordinals, negation, antonyms, roles or names."""
    ta, tb = tokens(a), tokens(b)
    na, nb = _numbers(ta, a), _numbers(tb, b)
    if na != nb:
        return Verdict(False, "number", f"{dict(na)} vs {dict(nb)}")
    oa, ob = _ordinals(ta, a), _ordinals(tb, b)
    if oa != ob:
        return Verdict(False, "ordinal", f"{dict(oa)} vs {dict(ob)}")
    if _negations(ta, a) % 2 != _negations(tb, b) % 2:
        return Verdict(False, "negation")
    clash = _antonym_clash(set(ta), set(tb))
    if clash:
        return Verdict(False, "antonym", clash)
    swapped = _swap(ta, tb)
    if swapped:
        return Verdict(False, "swap", swapped)
    if entities:
        missing = _entity_mismatch(a, b, ta, tb)
        if missing:
            return Verdict(False, "entity", missing)
    return Verdict(True)
