"""VQA accuracy as scored by EvalAI for VQAv2 / TextVQA (the MMF ``EvalAIAnswerProcessor`` and
``TextVQAAccuracyEvaluator``).

Both the prediction and every reference go through the same answer normalisation:
  1. lowercase; delete "," and "?"; "'s" -> " 's"; newlines/tabs -> spaces; strip;
  2. punctuation: each mark in `PUNCTUATIONS` is deleted when it touches a space in the text or the
     text has a comma between digits, otherwise replaced by a space; then every "." that is not
     followed by a digit is deleted ("5." -> "5", "3.5" stays);
  3. number words to digits ("two" -> "2"), articles (a, an, the) removed, contractions restored
     ("dont" -> "don't").
Score: for each reference i, ``min(1, #(other references equal to the prediction) / 3)``, averaged over
the references. With the usual ten references this gives 0.3, 0.6, 0.9 and 1.0 for 1, 2, 3 and 4+
matching annotators.

The official scorer assumes ten references. With a single reference there is no "other" reference to
agree with, so we score normalised exact match instead (1.0 or 0.0). With 2 to 9 references the
official formula is applied as is (so two identical references give at most 1/3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric, as_reference_list

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've",
    "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've",
    "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've",
    "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've",
    "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})
PUNCTUATIONS = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]  # fmt: skip

# Kept exactly as in the official scorer. "(?!<=\d)" is a look-*ahead* for the text "<=digit", not a
# look-behind, so in effect every "." not followed by a digit is removed.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_BETWEEN_DIGITS = re.compile(r"(?<=\d)(\,)+(?=\d)")
# The official scorer passes re.UNICODE (= 32) as the positional `count` of re.sub: at most 32 periods
# are removed. Reproduced so that scores match on pathological inputs too.
_OFFICIAL_PERIOD_COUNT = int(re.UNICODE)


def _tokenize(text: str) -> str:
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's")
    return text.strip()


def process_punctuation(text: str) -> str:
    """The official punctuation rule (see the module docstring, step 2)."""
    out = text
    has_digit_comma = _COMMA_BETWEEN_DIGITS.search(text) is not None
    for mark in PUNCTUATIONS:
        # The test reads the *input* text, the replacement applies to the running output.
        if (mark + " " in text or " " + mark in text) or has_digit_comma:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Number words to digits, drop articles, restore contractions (step 3)."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_vqa_answer(answer: str) -> str:
    """The full EvalAI answer normalisation applied to predictions and references alike."""
    answer = _tokenize(answer)
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    answer = process_punctuation(answer)
    return process_digit_article(answer)


def vqa_accuracy(prediction: str, references: str | Sequence[str]) -> float:
    """Leave-one-out VQA accuracy of `prediction` against the annotators' answers."""
    answers = [normalize_vqa_answer(ref) for ref in as_reference_list(references)]
    predicted = normalize_vqa_answer(prediction)
    if len(answers) == 1:
        return float(predicted == answers[0])
    matches = sum(answer == predicted for answer in answers)
    # Leaving out a matching answer leaves matches - 1 agreeing annotators, any other leaves matches.
    per_left_out = [min(1.0, (matches - (answer == predicted)) / 3) for answer in answers]
    return sum(per_left_out) / len(per_left_out)


VQA_ACCURACY = Metric(
    name="vqa_accuracy",
    description="EvalAI/TextVQA accuracy: normalised answer, min(#agreeing annotators / 3, 1), leave-one-out.",
    higher_is_better=True,
    score_fn=vqa_accuracy,
    worst_value=0.0,
)
