"""The name gazetteer: public name lists as a recognizer (pattern-only, so no NER hides what it does)
and as a check on NER's PERSON hits. Phrasings differ from the synthetic-log templates on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import redaction
from redaction import RedactionSettings, Redactor, SettingsError
from redaction.digests import detection_code_digest
from redaction.names import load_name_lists
from redaction.table import analysis_fingerprint

GAZETTEER_ONLY = RedactionSettings.default(ner={"enabled": False})


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(GAZETTEER_ONLY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Could you forward the slides to Kwabena before noon?", "Could you forward the slides to NAME_1 before noon?"),
        ("Siobhan asked whether the venue has parking.", "NAME_1 asked whether the venue has parking."),
        ("Reviewers: Thandiwe Okonkwo, Haruto Nakamura.", "Reviewers: NAME_1, NAME_2."),
        ("The minutes were taken by Wanjiru van der Berg.", "The minutes were taken by NAME_1."),
        ("Ask Kwabena Mensah whether Kwabena can join.", "Ask NAME_1 whether NAME_1 can join."),
    ],
)
def test_names_from_the_lists_are_redacted(redactor, text, expected):
    assert redactor.redact_group([text]).texts == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # given names that are also English nouns ("rebecca" is in WordNet), or in no list at all
        ("Tell Rebecca that the keys are under the mat.", "Tell NAME_1 that the keys are under the mat."),
        ("What should I get Oyelaran for graduation?", "What should I get NAME_1 for graduation?"),
        ("Nkemdirim is my roommate and never cleans.", "NAME_1 is my roommate and never cleans."),
        ("Draft a thank-you note for Tsegaye Park.", "Draft a thank-you note for NAME_1."),  # an English surname
        ("Fix this: me and Hao de Vries goes home.", "Fix this: me and NAME_1 goes home."),  # "hao" is a word too
        ("Remind Oyelaran's mother about the party.", "Remind NAME_1's mother about the party."),
        ("Rebecca said the build is broken.", "NAME_1 said the build is broken."),  # a known given name
        ("Tsegaye Park said the build is broken.", "NAME_1 said the build is broken."),  # two name words
        ("Write a short bio for Hao Ngata, a chess player.", "Write a short bio for NAME_1, a chess player."),
        ("Fill in: Employee: Vikram Park, Start: March 3.", "Fill in: Employee: NAME_1, Start: March 3."),
        # given names and surnames that are both English words ("Harry Lee", "Grace Foster"), in a frame;
        # a name joined to a cued one by "and" is in the same frame
        ("Dear Rebecca Young, your parcel is waiting.", "Dear NAME_1, your parcel is waiting."),
        ("We booked dinner with Harry Lee and Tsegaye Fox on Friday.",
         "We booked dinner with NAME_1 and NAME_2 on Friday."),
        ("The account holder Grace Foster disputed it.", "The account holder NAME_1 disputed it."),
        ("Create a record with name Amelia Park and age 30.", "Create a record with name NAME_1 and age 30."),
        ("Hi, I'm Ali Hoffmann and I need help.", "Hi, I'm NAME_1 and I need help."),  # "ali" is Portuguese too
        ("Signature: Raj Mizrahi, CTO", "Signature: NAME_1, CTO"),  # "raj" is an English word
        ("Import this vCard line: Anthony Park <ap2@postbox.net>", "Import this vCard line: NAME_1 <EMAIL_1>"),
        # a lone word that is also English, in the strongest frames only
        ("Tell Raj that the train is late.", "Tell NAME_1 that the train is late."),
        ("What should I get Ling for her birthday?", "What should I get NAME_1 for her birthday?"),
    ],
)
def test_names_in_frames_only_a_person_stands_in(redactor, text, expected):
    assert redactor.redact_group([text]).texts == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Get Started with the CLI in five minutes.",  # an inflected English word after "get"
        "Ask Questions in the forum before opening an issue.",
        "Write a poem for Mother's Day.",
        "Write a letter to Apple Support about my phone.",  # a given name that is a word, then a word
        "Give Me Liberty is a famous speech.",  # "Me" is a function word, whatever the lists say
        "Tell me a joke and ask them to laugh.",
        "Get Help with your account, or Tell Python to stop.",
        "Thank God it is Friday. Tell Mom that I called.",
        "Google said it will ship. Wikipedia says the tower is 300 m tall.",  # what products do
        "I live in Germany and I am a tax resident.",
        "Book a meeting with Marketing and Sales for Monday.",
        "The cardholder Agreement applies to every purchase.",
        "Create a user with name Admin and role Owner.",
    ],
)
def test_person_frames_leave_headings_and_products(redactor, text):
    assert redactor.redact_group([text]).texts == [text]


def test_a_product_or_team_before_an_email_is_no_display_name(redactor):
    text = "From: GitHub <noreply@githubmail.net>\nTo: Support Team <help@acmemail.net>"
    assert redactor.redact_group([text]).texts == ["From: GitHub <EMAIL_1>\nTo: Support Team <EMAIL_2>"]


@pytest.mark.parametrize(
    "text",
    [
        "The grace period ends on Jan 5; Will you remind me?",  # given names that are English words
        "Write An Essay About The Rose Garden And Summer Nights",  # a title-case heading
        "Deploy the app with Apache Kafka and Docker Compose.",  # English words before surnames
        "Use pandas.DataFrame and call Smith() from the helpers module.",  # code
        "We met on Monday, and again in May.",
    ],
)
def test_english_words_titles_and_code_are_not_names(redactor, text):
    assert redactor.redact_group([text]).texts == [text]


def test_ner_hits_without_a_known_name_word_are_dropped():
    confirming, trusting = (
        Redactor(RedactionSettings.default(name_gazetteer={"confirm_ner": flag})).analyzer for flag in (True, False)
    )
    text = "Benchmark the Samsung Galaxy against the Pixel for battery life, then ask Kwabena Mensah."

    def persons(analyzer) -> list[str]:
        return [text[d.start : d.end] for d in analyzer.analyze([text])[0] if d.entity_type == "PERSON"]

    assert persons(confirming) == ["Kwabena Mensah"]
    assert set(persons(trusting)) > {"Kwabena Mensah"}


def test_ner_keeps_a_known_given_name_and_surname_that_are_both_english_words():
    """NER hits whose every word is an English verb or adjective are dropped ("Deep Learning"), unless the
    lists know the first as a given name and the last as a surname."""
    analyzer = Redactor().analyzer
    text = "The invoice was approved by Harry Lee yesterday, after a talk on Deep Learning."
    found = [text[d.start : d.end] for d in analyzer.analyze([text])[0] if d.entity_type == "PERSON"]
    assert found == ["Harry Lee"]


def test_the_gazetteer_can_be_switched_off():
    settings = RedactionSettings.default(ner={"enabled": False}, name_gazetteer={"enabled": False})
    text = "Could you forward the slides to Kwabena before noon?"
    assert Redactor(settings).redact_group([text]).texts == [text]


def test_list_contents_are_part_of_the_cache_fingerprint(tmp_path):
    given, surnames = tmp_path / "given.txt", tmp_path / "surnames.txt"
    given.write_text("# test list\nKwabena\nGrace\tword\n", encoding="utf-8")
    surnames.write_text("Mensah\n", encoding="utf-8")
    settings = RedactionSettings.default(name_gazetteer={"given_names": str(given), "surnames": str(surnames)})
    before = analysis_fingerprint(settings)
    given.write_text("Kwabena\nAma\n", encoding="utf-8")
    assert analysis_fingerprint(settings) != before


def test_a_change_to_the_recognizers_code_is_a_new_cache_fingerprint(tmp_path):
    """Cached analyses from older recognizer code are never reused: the package's files are in the fingerprint."""
    package = Path(redaction.__file__).parent
    same, changed = tmp_path / "same", tmp_path / "changed"
    for copy in (same, changed):
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (changed / "structured.py").write_text((changed / "structured.py").read_text() + "\n# a changed recognizer\n")
    assert detection_code_digest(same) == detection_code_digest(package)
    assert detection_code_digest(changed) != detection_code_digest(package)


def test_bad_lists_are_refused_with_the_reason(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        RedactionSettings.default(name_gazetteer={"given_names": str(tmp_path / "missing.txt")})
    bad = tmp_path / "given.txt"
    bad.write_text("Kwabena\tverb\n", encoding="utf-8")
    english = Path(GAZETTEER_ONLY.name_gazetteer.english_words)
    with pytest.raises(ValueError, match="unknown name class"):
        load_name_lists(bad, GAZETTEER_ONLY.name_gazetteer.surnames, english)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Two capitalised words the lists lack, mid-sentence in Italian: a name; the first-name mention
        # after it takes the same placeholder.
        ("Scrivi una mail a Zorbina Quaglietti per ringraziarla. Zorbina è stata gentilissima.",
         "Scrivi una mail a NAME_1 per ringraziarla. NAME_1 è stata gentilissima."),
        # A sentence's first word is capitalised by grammar: the two unknown words after it are the name.
        ("Domani Zorbina Quaglietti arriva in ufficio.", "Domani NAME_1 arriva in ufficio."),
        # A second given name in lower case, then the surname; the two given names alone are the same person.
        ("Escribe a Jose luis Vazquez hoy. Jose luis siempre llega tarde.",
         "Escribe a NAME_1 hoy. NAME_1 siempre llega tarde."),
        # "y" between two people does not make one name of four words.
        ("Ayer Ana Ruiz y Luis Gil firmaron el contrato.", "Ayer NAME_1 y NAME_2 firmaron el contrato."),
        # A run of capitalised nouns ends in a name: the name is found, the nouns stay.
        ("Mein Kollege Udo Fabel hat Geburtstag.", "Mein Kollege NAME_1 hat Geburtstag."),
        ("Prepara una lettera per Elizabetta Lo Biondo.", "Prepara una lettera per NAME_1."),
    ],
)
def test_names_in_other_latin_script_languages(redactor, text, expected):
    assert redactor.redact_group([text]).texts == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Viajé a Costa Rica y Puerto Rico con mi madre.",  # country names, though shaped like names
        "Scrivi una ricetta per la Pasta alla Carbonara.",
        "Please review the Quarterly Roadmap before Friday.",  # English words: the unknown-pair rule is not for English
    ],
)
def test_places_and_english_headings_are_not_unknown_names(redactor, text):
    assert redactor.redact_group([text]).texts == [text]


def test_name_lists_are_read_without_accents():
    settings = RedactionSettings.default().name_gazetteer
    lists = load_name_lists(settings.given_names, settings.surnames, settings.english_words)
    assert lists.is_given("Élisabeth") and lists.is_given("elisabeth")
    assert lists.is_surname("Benoît") and lists.is_surname("BENOIT")
    assert not lists.is_given("Kollege")


def test_one_relation_list_feeds_the_relation_pattern_and_the_name_frames():
    settings = RedactionSettings.default(ner={"enabled": False}, person_relations=["lodger"])
    text = "Yesterday my lodger Tsegaye left. Nkemdirim is my lodger too. But my sister Oyelaran stayed."
    assert Redactor(settings).redact_group([text]).texts == [
        "Yesterday my lodger NAME_1 left. NAME_2 is my lodger too. But my sister Oyelaran stayed."
    ]


def test_without_relation_nouns_no_relation_frame():
    settings = RedactionSettings.default(
        ner={"enabled": False}, person_relations=[],
        pattern_recognizers=[spec for spec in RedactionSettings.default().model_dump()["pattern_recognizers"]
                             if spec["name"] != "PersonCueRecognizer"],
    )
    text = "Nkemdirim is my favourite author."
    assert Redactor(settings).redact_group([text]).texts == [text]


def test_a_pattern_that_uses_person_relations_needs_the_list():
    with pytest.raises(SettingsError, match="person_relations"):
        RedactionSettings.default(person_relations=[])
