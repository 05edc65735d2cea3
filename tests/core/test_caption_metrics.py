"""BLEU-4, ROUGE-L and CIDEr-D against values computed by hand (the working is in the comments)."""

from __future__ import annotations

import math

import pytest

from inspector.core.caption_metrics import bleu, caption_scores, cider_d, lcs_length, rouge_l, tokens


def test_tokens_are_lower_case_words_without_punctuation():
    assert tokens("Pitting, near the 3rd thread!") == ["pitting", "near", "the", "3rd", "thread"]


def test_bleu4_by_hand():
    # c = the cat sat on the mat, r = the cat sat on a mat: clipped precisions 5/6, 3/5, 2/4, 1/3;
    # equal lengths: no brevity penalty. BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** 0.25
    assert bleu(["The cat sat on the mat."], ["the cat sat on a mat"]) == pytest.approx((1 / 12) ** 0.25)
    # every n-gram of a 4-word candidate matches; c = 4 < r = 6: BP = exp(1 - 6/4)
    assert bleu(["the cat sat on"], ["the cat sat on a mat"]) == pytest.approx(math.exp(-0.5))
    # corpus level: counts are summed before the precisions (not a mean of sentence scores)
    assert bleu(["a b c d", "x y"], ["a b c d", "x z"]) == pytest.approx(
        (5 / 6 * 3 / 4 * 2 / 2 * 1 / 1) ** 0.25  # 1-grams 5/6, 2-grams 3/4, 3-grams 2/2, 4-grams 1/1
    )
    assert bleu(["rust"], ["a scratch on the rim"]) == 0.0  # no 4-gram at all: 0, no smoothing


def test_rouge_l_by_hand():
    assert (
        lcs_length(["a", "scratch", "on", "the", "rim"], ["deep", "scratch", "near", "the", "rim", "of", "the", "part"])
        == 3
    )
    # LCS 3 (scratch the rim): P = 3/5, R = 3/8; F = 2.44 P R / (R + 1.44 P)
    p, r = 3 / 5, 3 / 8
    expected = (1 + 1.2**2) * p * r / (r + 1.2**2 * p)
    assert expected == pytest.approx(0.44310, abs=1e-5)
    assert rouge_l("a scratch on the rim", "deep scratch near the rim of the part") == pytest.approx(expected)
    assert rouge_l("same words", "Same words.") == pytest.approx(1.0)
    assert rouge_l("", "a dent") == 0.0


def test_cider_d_by_hand():
    # references r1 = scratch on rim, r2 = dent on rim (N = 2): idf = ln 2 for n-grams in one
    # reference, 0 for "on", "rim", "on rim" (in both). Part 1 is identical to its reference: cosine 1
    # for n = 1, 2, 3; no 4-gram (0); equal lengths, so 10 * 3 / 4 = 7.5. Part 2 shares no weighted
    # n-gram with its reference: 0.
    scores = cider_d(["scratch on rim", "scratch near edge"], ["scratch on rim", "dent on rim"])
    assert scores == pytest.approx([7.5, 0.0])
    # the Gaussian length penalty: 2 words longer than the reference costs exp(-4 / 72)
    longer = cider_d(["scratch on rim here too", "dent on rim"], ["scratch on rim", "dent on rim"])
    assert longer[0] < 7.5 * math.exp(-4 / 72) + 1e-9


def test_caption_scores_together():
    scores = caption_scores(["scratch on rim", "scratch near edge"], ["scratch on rim", "dent on rim"])
    assert scores.n == 2
    assert scores.cider == pytest.approx(3.75)
    assert scores.rouge_l == pytest.approx((1.0 + 0.0) / 2)
    assert scores.bleu4 == 0.0  # no 4-gram in the whole corpus
    assert caption_scores([], []).n == 0
    with pytest.raises(ValueError, match="one reference each"):
        caption_scores(["a"], [])
