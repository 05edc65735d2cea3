"""Prompts for the captioners and clean-up of what they generate (pure Python, no torch).

Prompts name the part with the recipe's object name:

* BLIP-2 with OPT answers a question: ``Question: What defect is visible on this screw? Answer:``
  (the prompt format of the BLIP-2 paper's zero-shot VQA with OPT).
* BLIP base completes a caption that starts with a text prefix: ``a close-up photo of a screw with``.
  The shown caption keeps the part of the prefix that belongs to the sentence (``Screw with ...``).

Clean-up: only the newly generated tokens are decoded; the text is cut at the first line break or
at a new ``Question:`` (OPT tends to go on with another question), an echo of the prompt is
removed, immediately repeated words or phrases are collapsed, and the result is checked: empty or
unreadable output becomes a caption that says so, with status ``unusable``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_OBJECT_CHARS = 48

BLIP2_QUESTION = "Question: What defect is visible on this {object}? Answer:"
BLIP_PREFIX = "a close-up photo of a {object} with"
BLIP_LEAD = "{object} with"
VLM_INSTRUCTION = (
    "This is a close-up of a {object} from an inspection station; a region of it was flagged as possibly "
    "defective. In one short sentence, describe the visible defect and where it is.{vocabulary}"
)
VLM_VOCABULARY = " Use the plant's words where they fit: {classes}."
FLORENCE_DETAILED_CAPTION = "Describe in detail what is shown in the image."  # Florence-2's <DETAILED_CAPTION>
MAX_VOCABULARY_WORDS = 12

EMPTY = "No usable description (model output was empty)"
UNREADABLE = "No usable description (model output was unreadable)"
NON_ANSWERS = {
    "none",
    "nothing",
    "no",
    "n/a",
    "na",
    "unknown",
    "i don't know",
    "i do not know",
    "no defect",
    "no defects",
    "not sure",
}
NO_DEFECT_NAMED = 'The captioner names no defect here (it answered "{answer}")'

_WORD = re.compile(r"\S+")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


def object_phrase(object_name: str) -> str:
    """The object name as it goes into a prompt: one line, single spaces, not too long."""
    name = " ".join(str(object_name or "").split())
    if len(name) > MAX_OBJECT_CHARS:
        name = name[:MAX_OBJECT_CHARS].rsplit(" ", 1)[0] or name[:MAX_OBJECT_CHARS]
    return name or "part"


@dataclass(frozen=True)
class CaptionPrompt:
    """What the model is given, and the words of it that start the shown caption.

    Attributes:
        text: The prompt fed to the model.
        lead: Words put in front of the generated continuation in the caption (BLIP's prefix
            completes a sentence); empty for a question.
        one_sentence: Keep only the first sentence of the answer (chatty instruction-following models).
    """

    text: str
    lead: str = ""
    one_sentence: bool = False


def blip2_prompt(object_name: str, template: str = BLIP2_QUESTION) -> CaptionPrompt:
    return CaptionPrompt(text=template.format(object=object_phrase(object_name)))


def blip_prompt(object_name: str, template: str = BLIP_PREFIX, lead: str = BLIP_LEAD) -> CaptionPrompt:
    name = object_phrase(object_name)
    return CaptionPrompt(text=template.format(object=name), lead=lead.format(object=name) if lead else "")


def vlm_prompt(object_name: str, defect_classes=(), template: str | None = None) -> CaptionPrompt:
    """An instruction for a chat VLM: the part's name and (up to 12 of) the recipe's defect words."""
    words = [" ".join(str(c).split()) for c in defect_classes if str(c).strip()][:MAX_VOCABULARY_WORDS]
    vocabulary = VLM_VOCABULARY.format(classes=", ".join(words)) if words else ""
    text = (template or VLM_INSTRUCTION).format(object=object_phrase(object_name), vocabulary=vocabulary)
    return CaptionPrompt(text=text, one_sentence=True)


def florence_prompt(template: str | None = None) -> CaptionPrompt:
    """Florence-2's detailed-caption task prompt (it follows task prompts, not free instructions)."""
    return CaptionPrompt(text=template or FLORENCE_DETAILED_CAPTION, one_sentence=True)


def first_sentence(text: str) -> str:
    """``text`` up to and including the end of its first sentence (``.``, ``!`` or ``?`` before a space)."""
    match = re.search(r"[.!?](\s|$)", text)
    return text[: match.start() + 1] if match else text


def collapse_repeats(text: str, max_n: int = 8) -> str:
    """Remove immediately repeated words and phrases: ``a scratch a scratch on on it`` -> ``a scratch on it``.

    Words are compared without case and surrounding punctuation; the first occurrence is kept.
    """
    words = _WORD.findall(text)
    keys = [w.strip(".,;:!?\"'()").lower() for w in words]
    changed = True
    while changed:
        changed = False
        for n in range(1, min(max_n, len(words) // 2) + 1):
            i = 0
            while i + 2 * n <= len(words):
                if keys[i : i + n] == keys[i + n : i + 2 * n] and any(keys[i : i + n]):
                    del words[i + n : i + 2 * n]
                    del keys[i + n : i + 2 * n]
                    changed = True
                else:
                    i += 1
    return " ".join(words)


def _strip_echo(text: str, prompt: CaptionPrompt) -> str:
    """Drop a repeat of the prompt (or of its question, or a bare ``Answer:``) at the start."""
    for echo in (prompt.text, prompt.text.removesuffix("Answer:").strip(), prompt.lead, "Answer:"):
        echo = " ".join(echo.split())
        if echo and text.lower().startswith(echo.lower()):
            text = text[len(echo) :].lstrip()
    return text


def readable(text: str) -> bool:
    """Whether generated text looks like words: mostly letters, at least one word of 2+ letters."""
    if "\ufffd" in text:
        return False
    letters = len(_LETTERS.findall(text))
    visible = len("".join(text.split()))
    if visible == 0 or letters / visible < 0.6:
        return False
    return any(len(_LETTERS.findall(w)) >= 2 for w in text.split())


@dataclass(frozen=True)
class CleanCaption:
    """A caption ready to show: ``usable`` False means ``text`` explains why there is none."""

    text: str
    usable: bool
    reason: str | None = None


def clean_caption(generated: str, prompt: CaptionPrompt) -> CleanCaption:
    """Turn the decoded new tokens into the caption an operator reads.

    Args:
        generated: The decoded continuation (special tokens already skipped).
        prompt: The prompt it continues.
    """
    text = re.sub(r"[ \t]+", " ", generated.replace("\r", "\n")).strip(" ")
    text = _strip_echo(text, prompt)
    text = re.split(r"\n|\bQuestion:", text, maxsplit=1)[0]
    if prompt.one_sentence:
        text = first_sentence(text.strip())
    text = collapse_repeats(" ".join(text.split()))
    text = text.strip(" \t,;:-")
    if not text:
        return CleanCaption(EMPTY, usable=False, reason="unusable: model output was empty")
    if not readable(text):
        return CleanCaption(UNREADABLE, usable=False, reason="unusable: model output was not readable text")
    answer = text.rstrip(".!").strip()
    if answer.lower() in NON_ANSWERS and not prompt.lead:
        return CleanCaption(NO_DEFECT_NAMED.format(answer=answer), usable=True)
    caption = f"{prompt.lead} {text}" if prompt.lead else text
    caption = caption[0].upper() + caption[1:]
    if caption[-1] not in ".!?":
        caption += "."
    return CleanCaption(caption, usable=True)


def caption_target(corrected: str, prompt: CaptionPrompt) -> str:
    """The words a captioner should generate after ``prompt`` to give the operator's caption.

    The inverse of :func:`clean_caption`'s lead: BLIP base's shown caption starts with the part of
    its prefix that belongs to the sentence (``Bracket with ...``), so a corrected caption starting
    with that lead is learnt without it; any other correction is learnt as the prefix's
    continuation. The closing full stop that :func:`clean_caption` adds is dropped.
    """
    text = " ".join(str(corrected or "").split())
    lead = " ".join(prompt.lead.split())
    if lead and text.lower().startswith(lead.lower()):
        text = text[len(lead) :].lstrip(" ,;:")
    text = text.rstrip(" .")
    return text[:1].lower() + text[1:] if lead else text
