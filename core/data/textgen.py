"""DataInf's three text-generation benchmarks, generated locally and seeded (paper Appendix A.1.4–A.1.5).

Each benchmark has 10 classes (task types); by default 90 training and 10 test prompts
per class. A sample is a prompt and its answer; the language model is fine-tuned on
``prompt + " " + answer``. Samples are stored grouped by class (class 0's samples
first), so an influence matrix (test × train) is block-structured by class.

- ``sentence_transformations``: a made-up chatbot name announces one of 10 sentence
  transformations ("Reverse Order of Words", ..., "Repeat Each Word Twice") and applies
  it to a sentence. Every class uses the same sentences; the 10 test sentences never
  occur in training. Names are pronounceable nonsense words drawn from the seed.
- ``math_without_reasoning`` / ``math_with_reasoning``: 10 arithmetic word problems
  (pizza, chaperones, purchase, game, reading, discount, area, savings, cupcakes,
  interest) filled with random positive integers; the answer is the number alone, or a
  one-line reasoning step followed by the number. Integers are redrawn until the answer
  is a non-negative integer that makes sense (e.g. no more pizza eaten than baked).

The sentences are built from a small grammar of our own (adjective, noun, verb, adverb
lists below), not copied from DataInf. Everything depends only on (seed, sizes):
the same call gives the same benchmark, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from core.registry import Registry

N_TRAIN_PER_CLASS = 90
N_TEST_PER_CLASS = 10


@dataclass(frozen=True)
class TextBenchmark:
    """One generated benchmark: prompts and answers of the train and test splits, grouped by class."""

    name: str
    title: str
    class_names: tuple[str, ...]
    train_prompts: tuple[str, ...]
    train_answers: tuple[str, ...]
    train_labels: np.ndarray
    """(n_train,) int64 class index of each training sample, non-decreasing."""
    test_prompts: tuple[str, ...]
    test_answers: tuple[str, ...]
    test_labels: np.ndarray
    """(n_test,) int64 class index of each test sample, non-decreasing."""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def train_texts(self) -> list[str]:
        """What the model is fine-tuned on: ``prompt + " " + answer`` per training sample."""
        return [f"{prompt} {answer}" for prompt, answer in zip(self.train_prompts, self.train_answers)]

    @property
    def test_texts(self) -> list[str]:
        return [f"{prompt} {answer}" for prompt, answer in zip(self.test_prompts, self.test_answers)]


# --------------------------------------------------------------------------- sentences

_ADJECTIVES = ("quiet", "golden", "ancient", "gentle", "distant", "silver", "restless", "hidden", "bright",
               "lonely", "hollow", "brave", "sleepy", "wild", "tender", "frozen", "humble", "stormy")
_NOUNS = ("rivers", "lanterns", "meadows", "sparrows", "harbors", "forests", "candles", "mountains", "villages",
          "kettles", "bridges", "gardens", "orchards", "pebbles", "clouds", "ferries", "drums", "towers")
_VERBS = ("hum", "wander", "glow", "drift", "gather", "linger", "tremble", "shimmer", "rest", "sing",
          "whisper", "sway", "fade", "wait", "echo", "settle")
_ADVERBS = ("softly", "slowly", "tonight", "forever", "again", "quickly", "nearby", "together", "below",
            "alone", "gladly", "upstream")


def make_sentences(count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct sentences "Adjective noun verb adverb." drawn without replacement from the grammar."""
    space = len(_ADJECTIVES) * len(_NOUNS) * len(_VERBS) * len(_ADVERBS)
    if count > space:
        raise ConfigError(f"asked for {count} sentences; the grammar has only {space}")
    picks = rng.choice(space, size=count, replace=False)
    sentences = []
    for pick in picks:
        pick, adverb = divmod(int(pick), len(_ADVERBS))
        pick, verb = divmod(pick, len(_VERBS))
        adjective, noun = divmod(pick, len(_NOUNS))
        sentences.append(f"{_ADJECTIVES[adjective].capitalize()} {_NOUNS[noun]} {_VERBS[verb]} {_ADVERBS[adverb]}.")
    return sentences


_VOWELS = "aeiou"
_CONSONANTS = "bcdfghjklmnprstvz"


def make_chatbot_names(count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct pronounceable made-up names (alternating consonant/vowel, 4–8 letters), capitalized."""
    names: list[str] = []
    while len(names) < count:
        length = int(rng.integers(4, 9))
        start_with_vowel = bool(rng.integers(0, 2))
        letters = [rng.choice(list(_VOWELS if (i % 2 == 0) == start_with_vowel else _CONSONANTS))
                   for i in range(length)]
        name = "".join(letters).capitalize()
        if name not in names:
            names.append(name)
    return names


def _is_vowel(char: str) -> bool:
    return char.lower() in _VOWELS


def _is_consonant(char: str) -> bool:
    return char.isalpha() and not _is_vowel(char)


def _alternate_case(sentence: str) -> str:
    """Lower, upper, lower, ... over the letters only (spaces and punctuation do not count), as the paper's example."""
    out, letters = [], 0
    for char in sentence:
        if char.isalpha():
            out.append(char.upper() if letters % 2 else char.lower())
            letters += 1
        else:
            out.append(char)
    return "".join(out)


TRANSFORMATIONS: dict[str, Callable[[str], str]] = {
    "Reverse Order of Words": lambda s: " ".join(reversed(s.split())),
    "Capitalize Every Other Letter": _alternate_case,
    "Insert Number 1 Between Every Word": lambda s: " 1".join(s.split()),
    "Replace Vowels with *": lambda s: "".join("*" if _is_vowel(c) else c for c in s),
    "Double Every Consonant": lambda s: "".join(c * 2 if _is_consonant(c) else c for c in s),
    "Capitalize Every Word": lambda s: " ".join(word.capitalize() for word in s.split()),
    "Remove All Vowels": lambda s: "".join(c for c in s if not _is_vowel(c)),
    "Add ly To End of Each Word": lambda s: " ".join(word + "ly" for word in s.split()),
    "Remove All Consonants": lambda s: "".join(c for c in s if not _is_consonant(c)),
    "Repeat Each Word Twice": lambda s: " ".join(f"{word} {word}" for word in s.split()),
}
"""The paper's 10 transformations, in its order. On "Welcome to the real world." they give
"world. real the to Welcome", "wElCoMe To ThE rEaL wOrLd.", "Welcome 1to 1the 1real 1world.",
"W*lc*m* t* th* r**l w*rld.", "WWellccomme tto tthhe rreall wworrlldd.", "Welcome To The Real World.",
"Wlcm t th rl wrld.", "Welcomely toly thely really world.ly", "eoe o e ea o.",
"Welcome Welcome to to the the real real world. world." (the paper's own examples of doubling and
removing consonants contain typos; these follow its definitions)."""


def sentence_transformations(seed: int, n_train: int = N_TRAIN_PER_CLASS,
                             n_test: int = N_TEST_PER_CLASS) -> TextBenchmark:
    """10 classes (transformations), each with its own chatbot name, applied to the same sentences.

    Prompt: "<Name> is a chatbot that performs a specific transformation on sentences:
    <Transformation>\\nFor example:\\n<sentence> ->"; answer: the transformed sentence.
    The first n_train sentences are used for training in every class, the next n_test
    for testing, so no test sentence is ever seen in training.
    """
    rng = np.random.default_rng([seed, 0])
    sentences = make_sentences(n_train + n_test, rng)
    names = make_chatbot_names(len(TRANSFORMATIONS), rng)
    splits: dict[str, tuple[list[str], list[str], list[int]]] = {"train": ([], [], []), "test": ([], [], [])}
    for label, ((title, transform), name) in enumerate(zip(TRANSFORMATIONS.items(), names)):
        for index, sentence in enumerate(sentences):
            prompts, answers, labels = splits["train" if index < n_train else "test"]
            prompts.append(f"{name} is a chatbot that performs a specific transformation on sentences: {title}\n"
                           f"For example:\n{sentence} ->")
            answers.append(transform(sentence))
            labels.append(label)
    return _benchmark("sentence_transformations", "Sentence Transformations", tuple(TRANSFORMATIONS), splits)


# --------------------------------------------------------------------------- math


@dataclass(frozen=True)
class MathTemplate:
    """A word problem with integer slots A–D, its reasoning line and its answer."""

    name: str
    problem: str
    reason: str
    answer: Callable[[int, int, int, int], int]
    valid: Callable[[int, int, int, int], bool] = lambda a, b, c, d: True


MATH_TEMPLATES: tuple[MathTemplate, ...] = (
    MathTemplate("Pizza", "Jane ate {A} slices of pizza and her brother ate {B} slices from a pizza that "
                 "originally had {C} slices. How many slices of the pizza are left?",
                 "Combined slices eaten = {A} + {B}. Left = {C} - ({A} + {B}).",
                 lambda a, b, c, d: c - (a + b), lambda a, b, c, d: c >= a + b),
    MathTemplate("Chaperones", "For every {A} students going on a field trip, there are {B} adults needed as "
                 "chaperones. If {C} students are attending, how many adults are needed?",
                 "Adults needed = ({B} * {C}) // {A}.",
                 lambda a, b, c, d: (b * c) // a, lambda a, b, c, d: b < a <= c),
    MathTemplate("Purchase", "In an aquarium, there are {A} sharks and {B} dolphins. If they bought {C} more "
                 "sharks, how many sharks would be there in total?",
                 "Total sharks = {A} + {C}.", lambda a, b, c, d: a + c),
    MathTemplate("Game", "John scored {A} points in the first game, {B} points in the second, {C} in the third, "
                 "and {D} in the fourth game. What is his total points?",
                 "Total points = {A} + {B} + {C} + {D}.", lambda a, b, c, d: a + b + c + d),
    MathTemplate("Reading", "Elise reads for {A} hours each day. How many hours does she read in total in {B} days?",
                 "Total hours read = {A} * {B}.", lambda a, b, c, d: a * b, lambda a, b, c, d: a <= 12),
    MathTemplate("Discount", "A shirt costs {A}. There's a {B}-dollar off sale. How much does the shirt cost after "
                 "the discount?", "Cost after discount = {A} - {B}.",
                 lambda a, b, c, d: a - b, lambda a, b, c, d: a > b),
    MathTemplate("Area", "A rectangular garden has a length of {A} meters and a width of {B} meters. What is its "
                 "area?", "Area = {A} * {B}.", lambda a, b, c, d: a * b),
    MathTemplate("Savings", "If James saves {A} each week, how much will he save after {B} weeks?",
                 "Total savings = {A} * {B}.", lambda a, b, c, d: a * b),
    MathTemplate("Cupcakes", "A bakery sells cupcakes in boxes of {A}. If they have {B} cupcakes, how many boxes "
                 "can they fill?", "Boxes filled = {B} // {A}.",
                 lambda a, b, c, d: b // a, lambda a, b, c, d: 1 < a <= b),
    MathTemplate("Interest", "Jake invests {A} at an annual interest rate of {B}%. How much interest will he earn "
                 "after {C} years?", "Interest = ({A} * {B} * {C}) // 100.",
                 lambda a, b, c, d: (a * b * c) // 100, lambda a, b, c, d: b <= 20 and c <= 30),
)


def _draw_slots(template: MathTemplate, rng: np.random.Generator) -> dict[str, int]:
    """Random positive integers A–D in [1, 99], redrawn until the template accepts them."""
    while True:
        a, b, c, d = (int(v) for v in rng.integers(1, 100, size=4))
        if template.valid(a, b, c, d):
            return {"A": a, "B": b, "C": c, "D": d}


def _math(name: str, title: str, with_reasoning: bool, seed: int, n_train: int, n_test: int) -> TextBenchmark:
    # Both math benchmarks draw the same integers for the same seed: they differ only in the reasoning line.
    # Problems are distinct within a class (train and test never share one).
    rng = np.random.default_rng([seed, 1])
    splits: dict[str, tuple[list[str], list[str], list[int]]] = {"train": ([], [], []), "test": ([], [], [])}
    for label, template in enumerate(MATH_TEMPLATES):
        seen: set[str] = set()
        for index in range(n_train + n_test):
            slots = _draw_slots(template, rng)
            while (problem := template.problem.format(**slots)) in seen:
                slots = _draw_slots(template, rng)
            seen.add(problem)
            answer = template.answer(slots["A"], slots["B"], slots["C"], slots["D"])
            prompts, answers, labels = splits["train" if index < n_train else "test"]
            prompts.append(f"Solve the following math problem. {problem} ->")
            answers.append(f"Reason: {template.reason.format(**slots)} Answer: {answer}" if with_reasoning
                           else f"Answer: {answer}")
            labels.append(label)
    return _benchmark(name, title, tuple(t.name for t in MATH_TEMPLATES), splits)


def math_without_reasoning(seed: int, n_train: int = N_TRAIN_PER_CLASS, n_test: int = N_TEST_PER_CLASS
                           ) -> TextBenchmark:
    """10 word-problem templates; prompt "Solve the following math problem. <problem> ->", answer "Answer: <n>"."""
    return _math("math_without_reasoning", "Math Without Reasoning", False, seed, n_train, n_test)


def math_with_reasoning(seed: int, n_train: int = N_TRAIN_PER_CLASS, n_test: int = N_TEST_PER_CLASS
                        ) -> TextBenchmark:
    """As `math_without_reasoning`, answer "Reason: <one line> Answer: <n>"."""
    return _math("math_with_reasoning", "Math With Reasoning", True, seed, n_train, n_test)


def _benchmark(name: str, title: str, class_names: tuple[str, ...],
               splits: dict[str, tuple[list[str], list[str], list[int]]]) -> TextBenchmark:
    (train_p, train_a, train_y), (test_p, test_a, test_y) = splits["train"], splits["test"]
    return TextBenchmark(name=name, title=title, class_names=class_names,
                         train_prompts=tuple(train_p), train_answers=tuple(train_a),
                         train_labels=np.asarray(train_y, dtype=np.int64),
                         test_prompts=tuple(test_p), test_answers=tuple(test_a),
                         test_labels=np.asarray(test_y, dtype=np.int64))


BenchmarkBuilder = Callable[[int, int, int], TextBenchmark]
"""builder(seed, n_train_per_class, n_test_per_class) -> TextBenchmark."""

BENCHMARKS: Registry[BenchmarkBuilder] = Registry("text benchmark")
"""Benchmark name → builder, in the paper's Table 3 order."""
BENCHMARKS.add("sentence_transformations", "ten rule-based rewrites of a sentence", sentence_transformations)
BENCHMARKS.add("math_without_reasoning", "ten arithmetic word-problem templates, answer only",
                    math_without_reasoning)
BENCHMARKS.add("math_with_reasoning", "ten arithmetic word-problem templates, one line of reasoning",
                    math_with_reasoning)


def make_benchmark(name: str, seed: int = 0, n_train_per_class: int = N_TRAIN_PER_CLASS,
                   n_test_per_class: int = N_TEST_PER_CLASS) -> TextBenchmark:
    """Generate benchmark `name` (see `BENCHMARKS`); unknown names raise a ConfigError listing the valid ones."""
    builder = BENCHMARKS.get(name)
    if n_train_per_class < 1 or n_test_per_class < 1:
        raise ConfigError(f"need at least 1 train and 1 test sample per class, got {n_train_per_class} and "
                          f"{n_test_per_class}")
    return builder(seed, n_train_per_class, n_test_per_class)
