"""Person names in Cyrillic, Chinese, Japanese and Korean text, each found by a model made for its language.

The English NER model and the Latin-script name lists cannot read these scripts, so each prose line is
routed by the script it is written in (a conversation's turns, and even the lines of one turn, switch
language, so a line's script is a surer guide than the row's detected language):

- Cyrillic: natasha's news NER (slovnet), PER spans; a one-word span must be a name by pymorphy3's
  dictionary (Name, Surn or Patr), since the model also tags imperatives that open a prompt ("Объясни");
- Japanese (a line with kana): SudachiPy's dictionary, morphemes tagged 人名 (surname 姓, given name 名);
- Chinese (Han without kana): jieba's part-of-speech tagger, words tagged nr (person) that start with a
  common Chinese surname, and nrfg/nrt (transliterated names);
- Korean: a common surname followed by two given-name syllables, then an honorific, a particle or
  punctuation (no Korean NER ships as a package; this shape covers most Korean names in chat).

Models load on first use, once per process, so English-only work pays nothing for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import cache

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

SCRIPT_LANGUAGES = ("ru", "ja", "zh", "ko")

_CYRILLIC = regex.compile(r"\p{Cyrillic}")
_KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
_HAN = regex.compile(r"\p{Han}")
_HANGUL = regex.compile(r"\p{Hangul}")


def line_languages(line: str) -> list[str]:
    """The script-routed languages a line holds: ru for Cyrillic, ja for kana, zh for Han without kana,
    ko for Hangul (several when scripts mix)."""
    languages = []
    if _CYRILLIC.search(line):
        languages.append("ru")
    if _KANA.search(line):
        languages.append("ja")
    elif _HAN.search(line):
        languages.append("zh")
    if _HANGUL.search(line):
        languages.append("ko")
    return languages


# --- Russian (and other Cyrillic) ------------------------------------------------------------------


@cache
def _natasha() -> tuple[object, object]:
    from natasha import NewsEmbedding, NewsNERTagger, Segmenter

    return Segmenter(), NewsNERTagger(NewsEmbedding())


@cache
def _morphology() -> object:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


_NAME_GRAMMEMES = frozenset({"Name", "Surn", "Patr"})


def _dictionary_name(word: str) -> bool:
    return any(_NAME_GRAMMEMES & parse.tag.grammemes for parse in _morphology().parse(word))


def cyrillic_names(line: str) -> Iterator[tuple[int, int]]:
    from natasha import Doc

    segmenter, tagger = _natasha()
    doc = Doc(line)
    doc.segment(segmenter)
    doc.tag_ner(tagger)
    for span in doc.spans:
        if span.type != "PER" or not _CYRILLIC.search(span.text):
            continue
        if " " in span.text.strip() or _dictionary_name(span.text.strip()):
            yield span.start, span.stop


# --- Japanese --------------------------------------------------------------------------------------


@cache
def _sudachi() -> object:
    from sudachipy import Dictionary

    return Dictionary(dict="small").tokenizer()


def japanese_names(line: str) -> Iterator[tuple[int, int]]:
    """Runs of morphemes Sudachi's dictionary tags as person names (a surname and the given name after it
    become one span)."""
    start = end = None
    for morpheme in _sudachi().tokenize(line):
        if morpheme.part_of_speech()[2] == "人名":
            if start is None:
                start = morpheme.begin()
            end = morpheme.end()
        elif start is not None:
            yield start, end
            start = None
    if start is not None:
        yield start, end


# --- Chinese ---------------------------------------------------------------------------------------

# The most common Chinese surnames (over 90% of the population), single and double.
_CHINESE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂"
    "章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解"
    "牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎"
    "甄丛仲虞敖巩明佘池查麻苑迟邝張劉陳楊黃趙吳孫馬鄭謝韓馮鄧蕭葉蘇魏呂盧鍾譚陸範賈韋鄒龍賀顧龔錢嚴湯齊喬龐顏聶魯"
) | frozenset(
    {"欧阳", "司马", "司空", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "令狐", "宇文",
     "歐陽", "司馬"}
)


@cache
def _jieba() -> object:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg.dt


# Characters that end a name the tagger left in pieces: function words, pronouns and common verbs.
_NOT_IN_NAMES = frozenset(
    "的了是在我你他她它们和与或也都就还又很太把被给对向从到为及而但这那个一不有没吗呢吧啊呀么着过写说看想要会能可让请帮送告诉叫"
)


def chinese_names(line: str) -> Iterator[tuple[int, int]]:
    """Words tagged as names, and a name the tagger left in single characters (rare given names are
    not in its dictionary): a surname followed by one or two lone characters that are not function
    words or common verbs."""
    tokens, offset = [], 0
    for pair in _jieba().cut(line):
        tokens.append((offset, pair.word, pair.flag))
        offset += len(pair.word)
    index = 0
    while index < len(tokens):
        start, word, flag = tokens[index]
        if flag in ("nrfg", "nrt") and len(word) >= 2 and _HAN.match(word):
            yield start, start + len(word)
        elif flag == "nr" and 2 <= len(word) <= 4 and (word[0] in _CHINESE_SURNAMES or word[:2] in _CHINESE_SURNAMES):
            yield start, start + len(word)
        elif word in _CHINESE_SURNAMES:
            given = 0
            while (
                given < 2 and index + given + 1 < len(tokens) and len(tokens[index + given + 1][1]) == 1
                and _HAN.match(tokens[index + given + 1][1]) and tokens[index + given + 1][1] not in _NOT_IN_NAMES
            ):
                given += 1
            if given:
                last_start, last_word, _ = tokens[index + given]
                yield start, last_start + len(last_word)
                index += given
        index += 1


# --- Korean ----------------------------------------------------------------------------------------

_KOREAN_SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진나지엄채원천방공"
    "현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용"
)
# Syllables common in Korean given names; both syllables after the surname must be among them, which keeps
# ordinary three-syllable words that start like a surname ("이것은", "정말로") out.
_KOREAN_GIVEN = (
    "민수지현영준서연우진호은혜정희성훈아윤재동하예유상경미승철태원주나선혁한석광명기용다인빈채소규범찬솔건율"
    "보람슬별란숙순자옥애향화덕길남녀일이삼효근창환형운열강산봄결온세도시라린리름늘샘솜"
)
_KOREAN_NAME = regex.compile(
    rf"(?<!\p{{Hangul}})[{_KOREAN_SURNAMES}][{_KOREAN_GIVEN}]{{2}}"
    r"(?=\s?(?:씨|님|선생|교수|대리|과장|부장|사장|팀장|군|양|에게|한테|께|은|는|이가|이는|이를|이의|이와|이랑|가|을|를|의|와|과|랑|도|만)"
    r"|[\s,.!?·)」』\"']|$)"
)


def korean_names(line: str) -> Iterator[tuple[int, int]]:
    for match in _KOREAN_NAME.finditer(line):
        yield match.span()


FINDERS: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
    "ru": cyrillic_names,
    "ja": japanese_names,
    "zh": chinese_names,
    "ko": korean_names,
}


class ScriptNameRecognizer(EntityRecognizer):
    """PERSON spans in the non-Latin prose lines of a text, each line read by its script's finder.
    Code lines are skipped the way the English NER skips them."""

    def __init__(self, languages: Sequence[str], score: float, is_code_line: Callable[[list[str]], list[bool]]) -> None:
        super().__init__(supported_entities=["PERSON"], name="ScriptNameRecognizer", supported_language="en")
        self.languages = tuple(languages)
        self.score = score
        self.is_code_line = is_code_line

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if text.isascii():
            return []
        lines = text.splitlines(keepends=True)
        code = self.is_code_line([line.rstrip("\r\n") for line in lines])
        results = []
        offset = 0
        for line, is_code in zip(lines, code, strict=True):
            if not is_code and not line.isascii():
                for language in line_languages(line):
                    if language in self.languages:
                        results += [self._result(offset + s, offset + e) for s, e in FINDERS[language](line)]
            offset += len(line)
        return results

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            "PERSON",
            start,
            end,
            self.score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
