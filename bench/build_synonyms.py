"""Build the synonym groups the contrast check uses to KEEP a substitution (never to reject one).

    apt-get install wordnet-base   # Princeton WordNet 3.0 data files, Debian package
    .venv/bin/python bench/build_synonyms.py --similar-to --verb-hypernyms [--wordnet /usr/share/wordnet]

Reads WordNet's data.{noun,verb,adj,adv} and writes runtime/cache/data/synonyms.txt.gz: one line
per synset that holds at least two lemmas the MiniLM tokenizer knows as whole words (single lower-case words,
or phrases of up to three such words: "shut down", "get rid of"), each with the synset's sense
number for that lemma ("quick#2": its second most frequent sense), then the irregular forms of the
*.exc files ("=form base"). With --similar-to (the shipped table), an adjective satellite is also
joined to its head ("huge", "vast" -> "large, big"; heads stay apart, so "warm" never joins "hot").
With --verb-hypernyms (shipped too), a verb synset is joined to its direct hypernym ("pick" ->
"choose", "soothe" -> "calm"); never a noun to its hypernym ("orthodontist" / "dentist" is a
contrast). Then the units of measurement ("!lemma<TAB>synset#rank,..."): every noun sense under
WordNet's "unit of measurement" or "time unit", plus the calendar periods WordNet files under
"time period" next to "moment" (week, month, year...), any lemma, known word or not ("calorie").
Two different units are a contrast even when another sense joins them ("minute" / "second" share
"moment, minute, second, instant"). The contrast check treats a substitution as a contrast unless the
words are shown to be the same; a pair WordNet misses only costs a hit, never a wrong answer.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.cache.contrast import SYNONYMS_PATH, vocabulary  # noqa: E402


def lemma(raw: str) -> str:
    word = raw.split("(")[0]  # adjective position markers: "galore(ip)"
    return word.replace("_", " ").lower()


def sense_ranks(wordnet: Path) -> dict[tuple[str, str], dict[str, int]]:
    """(pos, synset offset) -> {lemma: the synset's sense number for that lemma} (1 = most frequent)."""
    ranks: dict[tuple[str, str], dict[str, int]] = {}
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (wordnet / f"index.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue
            fields = line.split()
            word, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
            offsets = fields[6 + pointer_count : 6 + pointer_count + synset_count]
            for rank, offset in enumerate(offsets, 1):
                ranks.setdefault((pos, offset), {})[lemma(word)] = rank
    return ranks


def synsets(
    wordnet: Path, known: frozenset[str], similar_to: bool = False, verb_hypernyms: bool = False
) -> list[list[str]]:
    ranks = sense_ranks(wordnet)
    verbs: dict[str, list[str]] = {}
    troponyms: list[tuple[str, str]] = []
    groups: list[list[str]] = []
    members: dict[str, list[str]] = {}
    satellites: list[tuple[str, str]] = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (wordnet / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue  # licence header
            fields = line.split(" ")
            count = int(fields[3], 16)
            words = []
            for i in range(count):
                w = lemma(fields[4 + 2 * i])
                parts = w.split(" ")
                rank = ranks.get((pos, fields[0]), {}).get(w)
                if len(parts) <= 3 and all(p in known for p in parts) and rank is not None:
                    words.append(f"{w}#{rank}")
            if pos == "verb" and verb_hypernyms:
                verbs[fields[0]] = words
                start = 4 + 2 * count
                pointers = fields[start + 1 : start + 1 + 4 * int(fields[start])]
                troponyms += [(fields[0], pointers[i + 1]) for i in range(0, len(pointers), 4) if pointers[i] == "@"]
            if pos == "adj":
                members[fields[0]] = words
                start = 4 + 2 * count
                pointers = fields[start + 1 : start + 1 + 4 * int(fields[start])]
                satellites += [
                    (fields[0], pointers[i + 1])
                    for i in range(0, len(pointers), 4)
                    if fields[2] == "s" and pointers[i] == "&"
                ]
            if len(words) >= 2:
                groups.append(words)
    if similar_to:
        for satellite, head in satellites:
            joined = members.get(satellite, []) + members.get(head, [])
            if len(joined) >= 2 and members.get(satellite) and members.get(head):
                groups.append(joined)
    if verb_hypernyms:
        # a verb joined to its direct hypernym ("pick" -> "choose", "soothe" -> "calm"): siblings
        # under one hypernym ("increase" / "decrease" under "change magnitude") stay apart
        for verb, hypernym in troponyms:
            if verbs.get(verb) and verbs.get(hypernym):
                groups.append(verbs[verb] + verbs[hypernym])
    return groups


UNIT_ROOTS = ("13583724", "15154774")
"""unit_of_measurement.n.01 and time_unit.n.01 (WordNet 3.0 offsets in data.noun)."""
CALENDAR = ("week", "fortnight", "month", "year", "decade", "century", "millennium")


def units(wordnet: Path) -> dict[str, dict[str, int]]:
    """lemma -> {unit synset offset: the lemma's sense number}: every noun sense that is a unit."""
    hypernyms: dict[str, list[str]] = {}
    for line in (wordnet / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split(" ")
        start = 4 + 2 * int(fields[3], 16)
        pointers = fields[start + 1 : start + 1 + 4 * int(fields[start])]
        hypernyms[fields[0]] = [
            pointers[i + 1] for i in range(0, len(pointers), 4) if pointers[i] in ("@", "@i") and pointers[i + 2] == "n"
        ]
    memo: dict[str, bool] = dict.fromkeys(UNIT_ROOTS, True)

    def is_unit(offset: str) -> bool:
        if offset not in memo:
            memo[offset] = False  # a cycle (none in WordNet 3.0) ends here
            memo[offset] = any(is_unit(h) for h in hypernyms.get(offset, ()))
        return memo[offset]

    found: dict[str, dict[str, int]] = {}
    for (pos, offset), lemmas in sense_ranks(wordnet).items():
        if pos != "noun":
            continue
        calendar = [w for w in lemmas if w in CALENDAR and lemmas[w] == 1]
        if is_unit(offset) or calendar:
            for word, rank in lemmas.items():
                if " " not in word and word.isalpha():
                    found.setdefault(word, {})[offset] = rank
    return found


def exceptions(wordnet: Path, known: frozenset[str]) -> list[tuple[str, str]]:
    forms = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (wordnet / f"{pos}.exc").read_text(encoding="latin-1").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isalpha() and parts[1] in known and parts[0] != parts[1]:
                forms.append((parts[0], parts[1]))
    return forms


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--similar-to", action="store_true", help="also join adjective satellites to their head")
    parser.add_argument("--verb-hypernyms", action="store_true", help="also join a verb to its direct hypernym")
    args = parser.parse_args()
    if not (args.wordnet / "data.noun").is_file():
        print(f"{args.wordnet}/data.noun not found; fix: apt-get install wordnet-base (or pass --wordnet DIR)")
        return 2
    known = vocabulary()
    groups = synsets(args.wordnet, known, args.similar_to, args.verb_hypernyms)
    forms = exceptions(args.wordnet, known)
    unit_senses = units(args.wordnet)
    lines = (
        ["\t".join(g) for g in groups]
        + [f"={form}\t{base}" for form, base in forms]
        + [f"!{w}\t" + ",".join(f"{o}#{r}" for o, r in sorted(s.items())) for w, s in sorted(unit_senses.items())]
    )
    # mtime=0: the same WordNet gives the same bytes
    SYNONYMS_PATH.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9, mtime=0))
    size = SYNONYMS_PATH.stat().st_size
    print(
        f"{len(groups)} synonym groups, {len(forms)} irregular forms, {len(unit_senses)} unit words "
        f"-> {SYNONYMS_PATH} ({size:,} B)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
