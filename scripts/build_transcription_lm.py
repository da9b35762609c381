"""Build flexrec's default language model for pocketsphinx (flexrec/transcription/models/).

Run by hand when the recipe changes: `.venv/bin/python scripts/build_transcription_lm.py`.

pocketsphinx's own US English model (in its wheel) was estimated on written text, where card
numbers are numerals: spoken digit strings are rare in it, so "four five three two" is heard as
"for five three to". This keeps its 10,000 most likely words (plus the number words and the
payment words a card detector listens for), its bigrams among them, and gives digit strings the
weight they have on a phone line: after a digit word another digit is likely (0.75 in all), and
after "is", "number", "card", "code" or "date" one is plausible (0.3). Back-off weights are
recomputed so each history's probabilities sum to one. Nothing in it comes from the simulator.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pocketsphinx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "flexrec" / "transcription" / "models" / "contact-centre.lm.bin"
VOCABULARY_SIZE = 10_000
MIN_BIGRAM = 0.003  # bigrams below this fall back to the unigram (keeps the file ~1.5 MB)
DIGITS = "zero oh one two three four five six seven eight nine double triple".split()
NUMBERS = (
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty "
    "thirty forty fifty sixty seventy eighty ninety hundred"
).split()
PAYMENT_WORDS = "expiry expire expires expiration digit digits cvv cvc visa mastercard amex".split()
DIGIT_AFTER_DIGIT = 0.75
DIGIT_AFTER_CUE = 0.3
CUES = {"is", "number", "card", "code", "date"}

# Exporting the wheel's binary model as ARPA: pocketsphinx 5.1 writes the 1- and 2-gram sections
# and then crashes in the 3-gram one, so the export runs in a child process and only those two
# sections are read back.
_EXPORT = """
import sys, pocketsphinx as p
m = p.NGramModel(p.Config(), p.LogMath(), p.get_model_path() + "/en-us/en-us.lm.bin")
m.write(sys.argv[1], p.NGramModel.str_to_type("arpa"))
"""


def read_generic(path: Path) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Unigram log10 probabilities and bigram log10 probabilities of the exported model."""
    unigrams: dict[str, float] = {}
    bigrams: dict[str, dict[str, float]] = defaultdict(dict)
    section = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("\\1-grams"):
                section = 1
            elif line.startswith("\\2-grams"):
                section = 2
            elif line.startswith(("\\3-grams", "\\end")):
                break
            elif section and line.strip():
                fields = line.rstrip("\n").split("\t")
                if section == 1 and len(fields) >= 2:
                    unigrams[fields[1]] = float(fields[0])
                elif section == 2 and len(fields) >= 3:
                    bigrams[fields[1]][fields[2]] = float(fields[0])
    return unigrams, bigrams


def build(unigrams: dict[str, float], bigrams: dict[str, dict[str, float]]) -> str:
    """The ARPA text of the contact-centre model."""
    words = sorted(
        (w for w in unigrams if not w.startswith("<")), key=lambda w: -unigrams[w]
    )[:VOCABULARY_SIZE]
    vocab = set(words) | set(DIGITS) | set(NUMBERS) | set(PAYMENT_WORDS) | {"<s>", "</s>"}
    p1 = {w: 10 ** unigrams.get(w, -6.0) for w in vocab}
    total = sum(p1.values())
    p1 = {w: p / total for w, p in p1.items()}
    p2: dict[str, dict[str, float]] = {}
    for history in vocab:
        following = {
            w: 10**lp
            for w, lp in bigrams.get(history, {}).items()
            if w in vocab and 10**lp >= MIN_BIGRAM
        }
        boost = DIGIT_AFTER_DIGIT if history in DIGITS else DIGIT_AFTER_CUE if history in CUES else 0
        if boost:
            rest = sum(p for w, p in following.items() if w not in DIGITS) or 1.0
            following = {w: p * (1 - boost) / rest for w, p in following.items() if w not in DIGITS}
            weights = {w: (0.25 if w in ("double", "triple") else 1.0) for w in DIGITS}
            norm = sum(weights.values())
            following.update({w: boost * k / norm for w, k in weights.items()})
        if following:
            p2[history] = following
    lines = ["\\data\\", f"ngram 1={len(p1)}", f"ngram 2={sum(map(len, p2.values()))}", ""]
    lines.append("\\1-grams:")
    for w in sorted(p1):
        following = p2.get(w, {})
        left = max(1e-6, 1 - sum(following.values()))
        denominator = max(1e-6, 1 - sum(p1[x] for x in following))
        backoff = math.log10(left / denominator) if following else 0.0
        prob = -99.0 if w == "<s>" else math.log10(p1[w])
        lines.append(f"{prob:.4f}\t{w}\t{backoff:.4f}")
    lines += ["", "\\2-grams:"]
    for history in sorted(p2):
        for w, p in sorted(p2[history].items()):
            lines.append(f"{math.log10(p):.4f}\t{history}\t{w}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def main() -> None:
    """Export, rebuild and write the binary model."""
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "generic.arpa"
        subprocess.run([sys.executable, "-c", _EXPORT, str(arpa)], check=False)  # noqa: S603
        unigrams, bigrams = read_generic(arpa)
        if len(unigrams) < 50_000:
            raise SystemExit(f"export gave {len(unigrams)} unigrams; expected the full model")
        ours = Path(tmp) / "contact-centre.arpa"
        ours.write_text(build(unigrams, bigrams), encoding="utf-8")
        model = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(), str(ours))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        model.write(str(OUT), pocketsphinx.NGramModel.str_to_type("bin"))
    print(f"{OUT}: {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
