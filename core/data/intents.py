"""`intents`: a generated, seeded text dataset of customer requests (8 intents) that ships with the code.

Every text is generated here from templates and slot fillers of our own (no download, no
corpus): requests to a travel-and-banking assistant, labelled with one of 8 intents. The
data are made to be not trivially separable, as real intent data are not:

- a text is an intent's core phrase inside a wrapper every intent shares ("can you ...",
  "quick one: ..."), so only the core's words tell the intents apart, and those are drawn from
  synonym lists with Zipf weights (book / reserve / ... / wrangle; flight / red-eye / ... /
  puddle jumper): the rare synonyms occur a few times or only in the test split;
- intents share words: "cancel" is in cancel_flight, cancel_table and report_lost_card, "my
  flight" in cancel_flight and flight_status, "card" in three intents;
- one text in three opens with a clause about another intent ("Now that my flight is booked,
  ...", "My card turned up, so ...");
- one text in six has a typo (two adjacent letters swapped).

A bag-of-words baseline (TF-IDF + logistic regression) and the encoder probe are both
measured on it (docs/text.md: `gradsift bench --only text`). `load_intents` carves a
stratified test split (clean labels) and injects 10% symmetric noise into the training
labels (the digits defaults), keeping the clean labels as truth. `generate_intents(n, seed)`
is also the bench's "400-row intent CSV". The same (n, seed) always gives the same texts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from core.config import DataConfig
from core.data.base import Dataset
from core.data.noise import noisy_train_labels
from core.data.split import carve_test_split, split_note
from core.data.text import text_dataset

N_SAMPLES = 1000
DEFAULT_NOISE_RATE = 0.10

INTENTS = ("book_flight", "cancel_flight", "flight_status", "book_table", "cancel_table", "check_balance",
           "transfer_money", "report_lost_card")

_SLOTS = {
    "city": ("Oslo", "Lima", "Denver", "Porto", "Nairobi", "Osaka", "Quito", "Tallinn", "Austin", "Perth",
             "Seville", "Hanoi", "Calgary", "Dakar", "Bergen"),
    "day": ("Monday", "Tuesday", "Friday", "the weekend", "tomorrow", "next week", "the 14th", "March 3rd",
            "Sunday morning", "the end of the month"),
    "time": ("7 pm", "8:30", "noon", "half past six", "nine tonight", "1 pm", "around eight"),
    "n": ("two", "three", "four", "six", "2", "5", "eight", "a party of four"),
    "place": ("Luigi's", "the Blue Olive", "Sakura House", "Casa Verde", "the Green Room", "Bistro Nord",
              "Taj Garden", "the harbour grill"),
    "amount": ("50 dollars", "$200", "1,000 euros", "300 pounds", "75 bucks", "$1,250", "twenty euros"),
    "person": ("my sister", "Tom", "my landlord", "Ana", "my savings account", "my dad", "the plumber"),
    # Synonym lexicons, most common first: drawn with Zipf weights, so the tail words are rare and
    # a bag of words sees some of them only in the test split.
    "book": ("book", "reserve", "get me", "arrange", "set up", "secure", "grab", "line up", "lock in", "snag",
             "organize", "pencil in", "sort out", "hold", "nail down", "fix me up with", "put me down for",
             "land me", "score me", "find me", "bag", "wrangle", "claim", "get hold of"),
    "cancel": ("cancel", "call off", "scrap", "drop", "undo", "nix", "ditch", "axe", "void", "scratch",
               "annul", "rescind", "pull the plug on", "back out of", "bail on", "get rid of", "forget about",
               "withdraw", "kill", "abandon", "dump", "strike", "wipe", "release"),
    "flight": ("a flight", "a plane ticket", "a seat on the plane", "an airline ticket", "a nonstop",
               "a one-way ticket", "airfare", "a return flight", "the red-eye", "a connection", "a jet",
               "a charter", "a puddle jumper", "a shuttle hop", "a window seat on the plane", "an aisle seat",
               "a layover route", "a commuter hop", "a transatlantic", "wings"),
    "my_flight": ("my flight", "my plane ticket", "my seat on the plane", "my airline booking", "the red-eye",
                  "my nonstop", "my connection", "the plane", "my airfare", "my boarding pass",
                  "the charter", "my hop", "my jet", "my aisle seat", "the layover", "my commuter hop",
                  "the transatlantic"),
    "table": ("a table", "dinner", "a table at {place}", "lunch", "brunch", "a booth", "a spot at {place}",
              "seats at {place}", "a dinner booking", "a meal at {place}", "supper", "a window table",
              "a bite at {place}", "a tasting menu", "a patio table", "a chef's counter", "a banquette"),
    "my_table": ("my reservation at {place}", "the table", "dinner", "our table at {place}", "lunch",
                 "the booth", "our spot at {place}", "brunch", "the dinner booking", "supper",
                 "the tasting menu", "our seats at {place}", "the patio table", "the chef's counter",
                 "the banquette"),
    "account": ("account", "checking", "savings", "current account", "card", "joint account", "wallet",
                "credit line", "debit account", "piggy bank", "rainy-day fund", "nest egg", "kitty", "purse"),
    "send": ("send", "transfer", "wire", "move", "pay", "forward", "shoot over", "zap", "remit", "chuck",
             "e-transfer", "bank", "fling", "beam", "route", "push", "slide", "toss"),
    "card": ("card", "credit card", "debit card", "bank card", "visa", "mastercard", "ATM card", "plastic",
             "amex", "contactless card", "chip card", "charge card"),
    "ask_status": ("is {my_flight} on time", "has {my_flight} been delayed", "when does {my_flight} leave",
                   "what's the status of {my_flight}", "any update on {my_flight}", "check on {my_flight}",
                   "is {my_flight} still on schedule", "where is {my_flight} right now", "did {my_flight} get moved",
                   "how late is {my_flight}", "track {my_flight}", "is {my_flight} boarding yet",
                   "what gate is {my_flight} at", "keep an eye on {my_flight}", "is {my_flight} running behind",
                   "will {my_flight} depart as planned", "has {my_flight} taken off"),
    "ask_balance": ("how much is in my {account}", "what's my {account} balance", "check my {account}",
                    "show me my {account} balance", "am I overdrawn on my {account}", "what's left in my {account}",
                    "how much can I spend from my {account}", "tally up my {account}", "look at my {account}",
                    "give me the figure on my {account}", "how healthy is my {account}", "can I afford {amount}",
                    "do I have {amount} in my {account}", "count what's in my {account}"),
    "lose_card": ("I lost my {card}", "someone stole my {card}", "I can't find my {card}", "block my {card}",
                  "freeze my {card}", "my {card} is missing", "my {card} was stolen", "I misplaced my {card}",
                  "deactivate my {card}", "lock my {card}", "I left my {card} somewhere",
                  "my {card} got swallowed by the ATM", "{cancel} my {card}, it's gone", "my {card} vanished",
                  "a thief has my {card}", "my {card} fell out of my pocket"),
}

_CORES: dict[str, tuple[str, ...]] = {
    "book_flight": ("{book} {flight}", "{book} {flight} to {city}", "{book} {flight} for {day}",
                    "{book} {flight} to {city} on {day}"),
    "cancel_flight": ("{cancel} {my_flight}", "{cancel} {my_flight} to {city}", "{cancel} {my_flight} on {day}"),
    "flight_status": ("{ask_status}", "{ask_status} to {city}", "{ask_status} on {day}"),
    "book_table": ("{book} {table}", "{book} {table} for {n}", "{book} {table} at {time}",
                   "{book} {table} on {day}"),
    "cancel_table": ("{cancel} {my_table}", "{cancel} {my_table} for {n}", "{cancel} {my_table} on {day}"),
    "check_balance": ("{ask_balance}",),
    "transfer_money": ("{send} {amount} to {person}", "{send} {person} {amount}",
                       "{send} {amount} from my {account} to {person}"),
    "report_lost_card": ("{lose_card}",),
}
_WRAPPERS = ("{core}", "{core}", "can you {core}", "I need you to {core}", "please {core}", "could you {core} for me",
             "go ahead and {core}", "{core}, thanks", "quick one: {core}", "{core} when you get a chance",
             "I want to {core}", "help me {core}")
_QUESTION_WRAPPERS = ("{core}", "{core}", "{core}?", "quick question: {core}", "{core}, do you know",
                      "I wonder, {core}", "tell me: {core}", "{core}, please check")
_STATEMENT_WRAPPERS = ("{core}", "{core}", "help, {core}", "{core}, what do I do", "so {core}", "{core}, please help",
                       "bad news: {core}", "{core} and I'm worried")
_WRAPPERS_OF = {"flight_status": _QUESTION_WRAPPERS, "check_balance": _QUESTION_WRAPPERS,
                "report_lost_card": _STATEMENT_WRAPPERS}
_OPENERS = ("I just landed in {city}.", "Quick question.", "Sorry to bother you.", "My {card} works fine.",
            "We had dinner at {place} yesterday.", "I'm flying on {day}.", "Thanks for earlier.",
            "I paid {person} already.", "Don't cancel anything yet.", "My flight was fine.",
            "The table last week was lovely.", "Now that my flight is booked,", "Since dinner got cancelled,",
            "I already checked my balance, and", "After sending {person} the money,", "My {card} turned up, so",
            "The flight is on time, so", "Now that the table is reserved,", "I found my wallet, so",
            "Once you've moved {amount} to {person},", "My trip to {city} is cancelled, but")
OPENER_RATE = 0.35
_PREFIXES = ("", "", "", "hi, ", "hey, ", "hello, ", "um, ", "so, ", "ok, ")
_SUFFIXES = ("", "", "", " please", " thanks", " asap", "?", ".", " thank you", " if you can")
ZIPF_EXPONENT = 1.2
_ZIPF_SLOTS = ("book", "cancel", "flight", "my_flight", "table", "my_table", "account", "send", "card",
               "ask_status", "ask_balance", "lose_card")


def _draw(values: tuple[str, ...], rng: np.random.Generator) -> str:
    weights = 1.0 / np.arange(1, len(values) + 1) ** ZIPF_EXPONENT
    return values[int(rng.choice(len(values), p=weights / weights.sum()))]


def _fill(template: str, rng: np.random.Generator) -> str:
    """Every {slot} replaced, left to right (filled values may hold slots of their own)."""
    out = template
    while "{" in out:
        slot = out[out.index("{") + 1:out.index("}")]
        values = _SLOTS[slot]
        value = _draw(values, rng) if slot in _ZIPF_SLOTS else values[int(rng.integers(len(values)))]
        out = out.replace("{" + slot + "}", value, 1)
    return out


def _typo(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
    if not long_words:
        return text
    index = long_words[int(rng.integers(len(long_words)))]
    word = words[index]
    at = int(rng.integers(len(word) - 1))
    words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2:]
    return " ".join(words)


def generate_intents(n: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """(n texts, (n,) int64 intent labels, the intent names): classes balanced (round-robin, shuffled), seeded.

    A text is an intent's core phrase (synonyms drawn with Zipf weights) inside a wrapper shared by
    every intent, with an optional greeting, sign-off, off-topic opening sentence and typo.
    """
    rng = np.random.default_rng([seed, 16])
    labels = np.arange(n, dtype=np.int64) % len(INTENTS)
    rng.shuffle(labels)
    texts = []
    for label in labels:
        intent = INTENTS[label]
        wrappers = _WRAPPERS_OF.get(intent, _WRAPPERS)
        core = _fill(_CORES[intent][int(rng.integers(len(_CORES[intent])))], rng)
        text = wrappers[int(rng.integers(len(wrappers)))].replace("{core}", core)
        text = _PREFIXES[int(rng.integers(len(_PREFIXES)))] + text + _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
        if rng.random() < OPENER_RATE:
            text = _fill(_OPENERS[int(rng.integers(len(_OPENERS)))], rng) + " " + text
        if rng.random() < 1 / 6:
            text = _typo(text, rng)
        texts.append(text)
    return texts, labels, list(INTENTS)


def load_intents(cfg: DataConfig, seed: int) -> Dataset:
    """intents: 1,000 generated requests (800 train / 200 test), 10% symmetric noise on the training labels.

    The texts are the same for every seed (generated with seed 0); the run's seed draws the test
    split and the noise. Noise is injected after embedding, so the `human` model can confuse
    intents whose embeddings are close.
    """
    texts, labels, names = generate_intents(N_SAMPLES, seed=0)
    train_idx, test_idx = carve_test_split(len(labels), labels, cfg.test_fraction, seed)
    clean_train = labels[train_idx]
    notes = [f"{N_SAMPLES} generated customer requests (core.data.intents: templates of our own, not real data)",
             split_note(labels, cfg.test_fraction, seed)]
    dataset = text_dataset("intents", cfg, texts_train=[texts[i] for i in train_idx], given_train=clean_train,
                           texts_test=[texts[i] for i in test_idx], y_test=labels[test_idx], class_names=names,
                           source_train=[f"row {i}" for i in train_idx], notes=notes, test_labels_verified=True)
    given, noise_note = noisy_train_labels(clean_train, len(names), cfg, np.random.default_rng([seed, 1]),
                                           dataset.x_train, DEFAULT_NOISE_RATE)
    return dataclasses.replace(dataset, given_train=given, true_train=clean_train.copy(),
                               notes=[*dataset.notes, noise_note])
