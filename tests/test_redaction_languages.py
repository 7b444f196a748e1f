"""Redaction beyond English: names in other scripts, addresses, dates of birth, secrets, and one
placeholder per person across a group."""

from __future__ import annotations

import pytest

from redaction import Redactor
from redaction.addresses import find_addresses, find_birth_dates


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Напиши письмо Ольге Смирновой и Ивану Петровичу Сидорову.", ["Ольге Смирновой", "Ивану Петровичу Сидорову"]),
        ("请帮我给张伟写一封信，告诉他李娜明天来北京。", ["张伟", "李娜"]),
        ("田中太郎さんに手紙を書いてください。", ["田中太郎"]),
        ("김민수 씨에게 이메일을 보내 주세요.", ["김민수"]),
        ("my name is mark and I need help", ["mark"]),
        ("Attached: Sarah_Murphy_resume.pdf", ["Sarah_Murphy"]),
        ("Please write to Mary Jenkins about the invoice.", ["Mary Jenkins"]),
    ],
)
def test_names_in_every_script_are_redacted(redactor, text, names):
    redacted = redactor.redact_group([text]).texts[0]
    for name in names:
        assert name not in redacted, redacted
    assert "NAME_1" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "这是一个关于北京天气的问题，请用中文回答。",
        "この文章を英語に翻訳してください。",
        "이것은 정말로 중요한 질문입니다.",
        "Объясни, как работает квантовый компьютер.",
        "Configure Jenkins to run the pipeline nightly.",
    ],
)
def test_texts_without_names_stay_unchanged(redactor, text):
    assert redactor.redact_group([text]).texts == [text]


def test_a_leading_capitalised_word_is_not_part_of_the_name_and_one_person_keeps_one_placeholder(redactor):
    result = redactor.redact_group(
        ["Eric Jenkins and Ruby Smith are siblings. Since Eric has the bigger house, Ruby lives with him.",
         "Tell Eric that Ruby called."]
    )  # fmt: skip
    assert result.texts == [
        "NAME_1 and NAME_2 are siblings. Since NAME_1 has the bigger house, NAME_2 lives with him.",
        "Tell NAME_1 that NAME_2 called.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A Chinese name with a rare surname that the tagger splits into single characters or glues to the
        # next word.
        ("请帮我给伏晓瀚写一封信。", "请帮我给NAME_1写一封信。"),
        ("请帮我给谢家熠写一封感谢信。", "请帮我给NAME_1写一封感谢信。"),
        ("帮我写一段生日祝福，送给陶悠然。", "帮我写一段生日祝福，送给NAME_1。"),
        # A Japanese name before an honorific, though the dictionary reads its parts as common nouns or kana.
        ("同僚の山根みのりさんが来ました。", "同僚のNAME_1さんが来ました。"),
        ("小寺いのりさんへのメッセージ", "NAME_1さんへのメッセージ"),
        ("昨日は穂積友哉さんと下地可憐さんに会いました。", "昨日はNAME_1さんとNAME_2さんに会いました。"),
        ("林亭芊是我的大学同学。", "NAME_1是我的大学同学。"),  # a given-name character the tagger does not know
        # A Korean name before a free-standing 씨, or glued to 님 after a surname.
        ("선우재혁 씨에게 감사 이메일을 써 주세요.", "NAME_1 씨에게 감사 이메일을 써 주세요."),
        ("최해정님께 드릴 메시지를 써 주세요.", "NAME_1님께 드릴 메시지를 써 주세요."),
    ],
)
def test_names_that_the_script_models_read_in_pieces(redactor, text, expected):
    assert redactor.redact_group([text]).texts == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "谢谢你，我明白了。",  # common words that jieba's dictionary tags as names
        "帮我写一段生日祝福。",
        "我和你一起去公园。",
        "店員さんとお客さんに挨拶してください。",  # one common noun before さん
        "運転手さんと看護師さんに聞いてください。",  # a noun and an occupation suffix
        "고객님, 선생님께 감사드립니다.",  # titles before 님
        "서울의 날씨는 어떤가요?",
    ],
)
def test_common_words_before_honorifics_or_tagged_as_names_stay(redactor, text):
    assert redactor.redact_group([text]).texts == [text]


def test_words_before_a_name_in_other_languages_are_not_part_of_it(redactor):
    result = redactor.redact_group(
        ["Mein Kollege Udo Fabel hat meinen Geburtstag vergessen. Wie sage ich es Udo?",
         "Écris un message à Tymeo Germain pour le remercier. Tymeo m'a beaucoup aidé."]
    )  # fmt: skip
    assert result.texts == [
        "Mein Kollege NAME_1 hat meinen Geburtstag vergessen. Wie sage ich es NAME_1?",
        "Écris un message à NAME_2 pour le remercier. NAME_2 m'a beaucoup aidé.",
    ]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Send it to 742 Evergreen Terrace, Springfield, IL 62704 now", "742 Evergreen Terrace, Springfield, IL 62704"),
        ("At 0487 Hopkins Locks Suite 922\nWest Mary, WA 74405.", "0487 Hopkins Locks Suite 922\nWest Mary, WA 74405"),
        ("Meine Adresse: Hauptstraße 5, 10115 Berlin.", "Hauptstraße 5, 10115 Berlin"),
        ("J'habite au 12 rue de la Paix, 75002 Paris.", "12 rue de la Paix, 75002 Paris"),
        ("Vivo en Calle Mayor 3, 28013 Madrid", "Calle Mayor 3, 28013 Madrid"),
        ("Адрес: ул. Ленина, д. 5, кв. 12", "ул. Ленина, д. 5, кв. 12"),
        ("我住在北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
        ("住所は東京都港区六本木6-10-1です", "東京都港区六本木6-10-1"),
        ("서울시 강남구 테헤란로 152에 있어요", "서울시 강남구 테헤란로 152"),
    ],
)
def test_street_addresses(text, address):
    assert [text[start:end] for start, end in find_addresses(text)] == [address]


def test_dates_of_birth_only_after_a_birth_cue():
    text = "DOB: 12/05/1987. born on March 3, 1990; geboren am 3. Mai 1985; 1990年5月3日生まれ. Meeting on 2024-03-05."
    found = [text[s:e] for s, e in find_birth_dates(text)]
    assert found == ["12/05/1987", "March 3, 1990", "3. Mai 1985", "1990年5月3日"]
    assert list(find_addresses("In 2020 Apple released 3 New Products for 5 Main Streets.")) == []


def test_addresses_dates_of_birth_and_secrets_get_their_placeholders(redactor):
    text = "I'm at 742 Evergreen Terrace, Springfield, IL 62704, DOB 12/05/1987, DB_PASSWORD=hunter2go"
    assert redactor.redact_group([text]).texts == ["I'm at ADDRESS_1, DOB DOB_1, DB_PASSWORD=SECRET_1"]
