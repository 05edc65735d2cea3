"""Prompts and the clean-up of generated text (no model needed)."""

from __future__ import annotations

from inspector.captioning.text import (
    EMPTY,
    UNREADABLE,
    CaptionPrompt,
    blip2_prompt,
    blip_prompt,
    clean_caption,
    collapse_repeats,
    object_phrase,
    readable,
)


def test_prompts_name_the_part():
    assert blip2_prompt("ball screw").text == "Question: What defect is visible on this ball screw? Answer:"
    prompt = blip_prompt("  magnetic\n tile ")
    assert prompt.text == "a close-up photo of a magnetic tile with"
    assert prompt.lead == "magnetic tile with"
    assert object_phrase("") == "part"
    assert len(object_phrase("very long name " * 10)) <= 48


def test_collapse_repeats():
    assert collapse_repeats("a scratch a scratch a scratch on the edge") == "a scratch on the edge"
    assert collapse_repeats("crack crack, crack") == "crack"
    assert collapse_repeats("on on the the surface") == "on the surface"
    assert collapse_repeats("a dent near a dent") == "a dent near a dent"  # not immediately repeated
    assert collapse_repeats("") == ""


def test_question_answer_is_cleaned():
    prompt = blip2_prompt("screw")
    assert clean_caption(" a scratch on the head\nQuestion: what", prompt).text == "A scratch on the head."
    assert clean_caption("a crack Question: is it", prompt).text == "A crack."
    echoed = "Question: What defect is visible on this screw? Answer: a dent"
    assert clean_caption(echoed, prompt).text == "A dent."
    assert clean_caption("rust rust rust rust", prompt).text == "Rust."
    none = clean_caption("none", prompt)
    assert none.usable and "names no defect" in none.text


def test_caption_prefix_completes_the_sentence():
    prompt = blip_prompt("screw")
    assert clean_caption("a scratch on it", prompt).text == "Screw with a scratch on it."
    assert clean_caption("a close-up photo of a screw with a hole", prompt).text == "Screw with a hole."


def test_empty_or_garbage_output_says_so():
    prompt = CaptionPrompt("Question: what? Answer:")
    for raw in ("", "   ", "\n\nsomething after a line break", ", ; -"):
        out = clean_caption(raw, prompt)
        assert not out.usable and out.text == EMPTY and "empty" in out.reason
    for raw in ("#### 1234 ))))", "\ufffd\ufffd ab", "x 1 2 3 4 5 6"):
        out = clean_caption(raw, prompt)
        assert not out.usable and out.text == UNREADABLE, raw
    assert readable("a hole") and not readable("!!!") and not readable("a 1 2")
