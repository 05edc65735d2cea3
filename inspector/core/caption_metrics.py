"""Caption quality against operators' corrected captions: BLEU-4, ROUGE-L and CIDEr-D (pure Python).

Hand-written from the papers (a few dozen lines each; the usual package, pycocoevalcap, pulls in a
Java tokenizer and METEOR/SPICE that a station does not need):

* **Tokens**: lower case, words of letters and digits; punctuation dropped (as the COCO caption
  evaluation's PTB tokenizer does with punctuation).
* **BLEU-4** (Papineni et al., 2002): corpus level. Clipped n-gram counts summed over all captions
  for n = 1..4, geometric mean of the four precisions with equal weights, brevity penalty
  ``exp(1 - r / c)`` when the candidates' total length ``c`` is below the references' ``r``. No
  smoothing: a corpus without a single matching 4-gram scores 0.
* **ROUGE-L** (Lin, 2004): per caption the LCS-based F-measure
  ``(1 + b^2) R P / (R + b^2 P)`` with ``b = 1.2`` (the COCO evaluation's value), averaged.
* **CIDEr-D** (Vedantam et al., 2015): per caption and n = 1..4 the cosine of TF-IDF n-gram vectors,
  with document frequencies over the evaluated set's references, the candidate's weights clipped at
  the reference's and a Gaussian length penalty ``exp(-(lc - lr)^2 / (2 * 6^2))``; the mean over n,
  times 10, averaged over captions (COCO's ``CiderD``). With one reference per part, as here.

Each part has one reference (its newest corrected caption).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_N = 4
ROUGE_BETA = 1.2
CIDER_SIGMA = 6.0


def tokens(text: str) -> list[str]:
    """Lower-case words of letters and digits (punctuation dropped)."""
    return _TOKEN.findall((text or "").lower())


def ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu(candidates: Sequence[str], references: Sequence[str], max_n: int = MAX_N) -> float:
    """Corpus BLEU-``max_n`` of candidates against one reference each (0 to 1)."""
    _same_length(candidates, references)
    matched = [0] * max_n
    total = [0] * max_n
    c_len = r_len = 0
    for cand, ref in zip(candidates, references, strict=True):
        c, r = tokens(cand), tokens(ref)
        c_len += len(c)
        r_len += len(r)
        for n in range(1, max_n + 1):
            cn, rn = ngrams(c, n), ngrams(r, n)
            matched[n - 1] += sum(min(k, rn[g]) for g, k in cn.items())
            total[n - 1] += max(len(c) - n + 1, 0)
    if c_len == 0 or any(m == 0 for m in matched):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / max_n
    brevity = 1.0 if c_len > r_len else math.exp(1.0 - r_len / c_len)
    return brevity * math.exp(log_precision)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(prev[j] + 1 if x == y else max(prev[j + 1], row[j]))
        prev = row
    return prev[-1]


def rouge_l(candidate: str, reference: str, beta: float = ROUGE_BETA) -> float:
    """ROUGE-L F-measure of one caption (0 to 1)."""
    c, r = tokens(candidate), tokens(reference)
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


def cider_d(
    candidates: Sequence[str], references: Sequence[str], max_n: int = MAX_N, sigma: float = CIDER_SIGMA
) -> list[float]:
    """CIDEr-D of each candidate against its reference; document frequencies over ``references``."""
    _same_length(candidates, references)
    refs = [tokens(r) for r in references]
    cands = [tokens(c) for c in candidates]
    n_docs = len(refs)
    df: list[Counter[tuple[str, ...]]] = []
    for n in range(1, max_n + 1):
        counts: Counter[tuple[str, ...]] = Counter()
        for r in refs:
            counts.update(set(ngrams(r, n)))
        df.append(counts)
    log_docs = math.log(float(max(n_docs, 1)))

    def vector(words: list[str], n: int) -> tuple[dict[tuple[str, ...], float], float]:
        counts = ngrams(words, n)
        vec = {g: k * (log_docs - math.log(max(1.0, float(df[n - 1][g])))) for g, k in counts.items()}
        return vec, math.sqrt(sum(v * v for v in vec.values()))

    scores = []
    for c, r in zip(cands, refs, strict=True):
        penalty = math.exp(-((len(c) - len(r)) ** 2) / (2 * sigma**2))
        total = 0.0
        for n in range(1, max_n + 1):
            vc, norm_c = vector(c, n)
            vr, norm_r = vector(r, n)
            dot = sum(min(v, vr[g]) * vr[g] for g, v in vc.items() if g in vr)
            if norm_c > 0 and norm_r > 0:
                total += penalty * dot / (norm_c * norm_r)
        scores.append(10.0 * total / max_n)
    return scores


@dataclass(frozen=True)
class CaptionScores:
    """BLEU-4 (corpus), ROUGE-L and CIDEr-D (means over the parts) of ``n`` captions."""

    n: int
    bleu4: float
    rouge_l: float
    cider: float

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "bleu4": self.bleu4, "rouge_l": self.rouge_l, "cider": self.cider}

    def describe(self) -> str:
        return f"BLEU-4 {self.bleu4:.3f}  ROUGE-L {self.rouge_l:.3f}  CIDEr-D {self.cider:.3f}  ({self.n} captions)"


def caption_scores(candidates: Sequence[str], references: Sequence[str]) -> CaptionScores:
    """All three scores of generated captions against the corrected ones (one each, same order)."""
    _same_length(candidates, references)
    n = len(candidates)
    if n == 0:
        return CaptionScores(0, 0.0, 0.0, 0.0)
    rouge = sum(rouge_l(c, r) for c, r in zip(candidates, references, strict=True)) / n
    cider = sum(cider_d(candidates, references)) / n
    return CaptionScores(n, bleu(candidates, references), rouge, cider)


def _same_length(candidates: Sequence[str], references: Sequence[str]) -> None:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} captions but {len(references)} references: give one reference each")
