"""Person names in Cyrillic, Chinese, Japanese and Korean text, each found by a model made for its language.

The English NER model and the Latin-script name lists cannot read these scripts, so each prose line is
routed by the script it is written in (a conversation's turns, and even the lines of one turn, switch
language, so a line's script is a surer guide than the row's detected language):

- Cyrillic: natasha's news NER (slovnet), PER spans; a one-word span must be a name by pymorphy3's
  dictionary (Name, Surn or Patr), since the model also tags imperatives that open a prompt ("Объясни");
- Japanese (a line with kana): SudachiPy's dictionary, morphemes tagged 人名 (surname 姓, given name 名),
  and the nouns before an honorific (さん, 様, 君 ...) unless they are one common noun (店員さん);
- Chinese (Han without kana): jieba's part-of-speech tagger, words tagged nr (person) that start with a
  surname of the Hundred Family Surnames, nrfg/nrt, and a surname the tagger left alone or glued to the
  next word followed by one or two given-name characters; common words it tags nr (祝福) are dropped;
- Korean: a common surname followed by two given-name syllables, then an honorific, a particle or
  punctuation, and any word before a free-standing 씨 (no Korean NER ships as a package).

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


# Suffixes put after a person's name (and after some common nouns: お客さん, 店員さん).
_JAPANESE_HONORIFICS = frozenset(
    {"さん", "様", "さま", "君", "くん", "ちゃん", "氏", "殿", "先生", "先輩", "社長", "部長", "課長"}
)


def japanese_names(line: str) -> Iterator[tuple[int, int]]:
    """Runs of morphemes Sudachi's dictionary tags as person names (a surname and the given name after it
    become one span), and the nouns right before an honorific (さん, 様, 君 ...): a name the dictionary
    splits into common nouns or kana ("円谷つばささん", "小寺いのりさん") unless it is one common noun
    ("店員さん", "お客さん")."""
    morphemes = list(_sudachi().tokenize(line))
    start = end = None
    for morpheme in morphemes:
        if morpheme.part_of_speech()[2] == "人名":
            if start is None:
                start = morpheme.begin()
            end = morpheme.end()
        elif start is not None:
            yield start, end
            start = None
    if start is not None:
        yield start, end
    for index, morpheme in enumerate(morphemes):
        if morpheme.surface() in _JAPANESE_HONORIFICS and index:
            yield from _before_honorific(morphemes[:index])


# Parts of speech a name read in pieces may be given: kanji read as an auxiliary (哉), an adjectival noun
# (可憐) or a suffix (屋), besides nouns.
_NAME_PIECE_POS = frozenset({"名詞", "助動詞", "形状詞", "接尾辞"})


def _before_honorific(morphemes: list) -> Iterator[tuple[int, int]]:
    """The morphemes right before an honorific, back to a particle or punctuation, if they read as a name:
    they hold a proper noun, or are several nouns without a suffix (運転手さん is an occupation). Pieces
    other than nouns count only when written in kanji or katakana; time words (昨日) end the run."""
    run = []
    for morpheme in reversed(morphemes):
        pos = morpheme.part_of_speech()
        if pos[0] not in _NAME_PIECE_POS or pos[2] == "副詞可能":
            break
        if pos[0] != "名詞" and not _KANJI_OR_KATAKANA.fullmatch(morpheme.surface()):
            break
        run.append(morpheme)
    proper = any(morpheme.part_of_speech()[1] == "固有名詞" for morpheme in run)
    several = len(run) > 1 and all(morpheme.part_of_speech()[0] != "接尾辞" for morpheme in run)
    if proper or several:
        yield run[-1].begin(), run[0].end()


_KANJI_OR_KATAKANA = regex.compile(r"[\p{Han}\p{Katakana}ー]+")


# --- Chinese ---------------------------------------------------------------------------------------

# The most common Chinese surnames (over 90% of the population), single and double.
_CHINESE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂"
    "章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解"
    "牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎"
    "甄丛仲虞敖巩明佘池查麻苑迟邝張劉陳楊黃趙吳孫馬鄭謝韓馮鄧蕭葉蘇魏呂盧鍾譚陸範賈韋鄒龍賀顧龔錢嚴湯齊喬龐顏聶魯"
    # The single surnames of the Hundred Family Surnames (百家姓, a classical text in the public domain).
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎鲁韦昌马苗凤"
    "花方俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄"
    "米贝明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万"
    "支柯昝管卢莫经房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松"
    "井段富巫乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰"
    "从鄂索咸籍赖卓蔺屠蒙池乔阴鬱胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍郤璩桑桂濮牛寿通边扈燕冀郏浦尚农温别庄晏"
    "柴瞿阎充慕连茹习宦艾鱼容向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾"
    "辛阚那简饶空曾毋沙乜养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公晋楚闫法汝鄢涂钦岳帅缑亢况郈佘佴墨哈谯笪年爱阳佟"
    "言福"
) | frozenset(
    {"欧阳", "司马", "司空", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "令狐", "宇文",
     "歐陽", "司馬", "万俟", "夏侯", "闻人", "赫连", "公羊", "澹台", "公冶", "宗政", "濮阳", "淳于", "单于", "太叔",
     "申屠", "仲孙", "轩辕", "钟离", "鲜于", "闾丘", "司徒", "亓官", "司寇", "端木", "巫马", "公西", "漆雕", "乐正",
     "公良", "拓跋", "夹谷", "宰父", "谷梁", "段干", "百里", "东郭", "南门", "呼延", "羊舌", "微生", "梁丘", "左丘",
     "东门", "西门", "南宫", "第五"}
)
# Common words that jieba's dictionary tags nr (person name) and that start like a surname: the most frequent
# of them, read through by hand (jieba's dict.txt, nr, two characters, frequency 300 or more).
_COMMON_WORDS_TAGGED_NR = frozenset(
    "时髦 牛马 常青 白旗 高坡 郎君 高雅 徐徐 张罗 胡椒 宫阙 高超 龙宫 顾忌 金光 孔道 庄园 高昂"
    " 严正 祝福 陈旧 明智 殷勤 蓝图 卢布 白银 温馨 万世 钱财 雷声 凌空 焦黄 李子 熊掌 田野 张口"
    " 古文 张嘴 史实 朱砂 龙王 王宫 梅林 孔雀 高耸 田园 白云 周旋 张贴 杜鹃 石柱 胡涂 查明 安危"
    " 梅子 杨柳 林木 林子 金黄 白发 麻木 石林 华丽 高薪 陈设 马夫 周密 金石 张开 白布 郎中 毛巾"
    " 乔木 马背 高悬 桂花 胡闹 荣耀 王八 高三 师娘 沙皇 凌厉 白白 谢恩 史诗 岳父 师母 祝贺 童子"
    " 白莲 沙丘 卓越 杜绝 柴禾 朱红 许可 高僧 安抚 冷汗 师生 左翼 金刚 蓝天 宁静 陈列 黎明 向阳"
    " 王子 明珠 林立 马匹 丛林 荣获 陈述 高明 凌辱 宁可 周转 范畴 吉祥 梅花 师范 沙滩 康复 向东"
    " 白领 谢谢 安静 叶子 王府 胡子 米粉 辛勤 顾客 齐全 高潮 师哥 金殿 石英 文武 齐声 高峰 白雪"
    " 王公 王爷 顾问 师兄 胡同 师傅 宫殿 明星 武林 冷笑 古老 荣誉 雷达 卫星 陆军 阳光 王朝 和尚"
    " 文明 武功 明白".split()
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


_NAME_FLAGS = frozenset({"nr", "nrfg", "nrt"})
# Tags of words that do not continue a given name: time words, verbs, adverbs, prepositions, conjunctions,
# particles, pronouns, numerals, measure words, locations, modal particles, interjections.
# (A Han character tagged x is one the tagger does not know, as a rare given name's often is.)
_NOT_GIVEN_NAME_FLAGS = ("t", "v", "d", "p", "c", "u", "r", "m", "q", "f", "y", "e")
# A surname standing alone may be tagged a verb (rare surnames such as 伏, 闻 are also verbs), not these.
_NOT_SURNAME_FLAGS = ("t", "d", "p", "c", "u", "r", "m", "q", "f", "y", "e", "x")


def _surname_length(word: str) -> int:
    return 2 if len(word) > 1 and word[:2] in _CHINESE_SURNAMES else 1 if word[:1] in _CHINESE_SURNAMES else 0


def chinese_names(line: str) -> Iterator[tuple[int, int]]:
    """Words tagged as names, and a name the tagger left in pieces (rare given names are not in its
    dictionary): a surname tagged as a name or standing alone, followed by one or two characters that are
    not function words or common verbs. Common words the dictionary tags as names ("祝福") are not names."""
    tokens, offset = [], 0
    for pair in _jieba().cut(line):
        tokens.append((offset, pair.word, pair.flag))
        offset += len(pair.word)
    index = 0
    while index < len(tokens):
        start, word, flag = tokens[index]
        surname = _surname_length(word)
        if word in _COMMON_WORDS_TAGGED_NR or not _HAN.match(word):
            index += 1
            continue
        if surname and len(word) == surname:
            if word not in _NOT_IN_NAMES and (flag in _NAME_FLAGS or not flag.startswith(_NOT_SURNAME_FLAGS)):
                given, taken = _given_name_after(tokens, index + 1, 2)
                if given:
                    yield start, start + len(word) + given
                    index += taken
        elif flag in _NAME_FLAGS and (surname or flag != "nr") and 2 <= len(word) <= 4:
            # A surname and one character the tagger put together without knowing the name ("蓝炫|熠",
            # "谢家|熠写"): the given name's second character may follow.
            given, taken = _given_name_after(tokens, index + 1, 1) if surname and len(word) == 2 else (0, 0)
            yield start, start + len(word) + given
            index += taken
        index += 1


def _given_name_after(tokens: list[tuple[int, str, str]], index: int, most: int) -> tuple[int, int]:
    """How many characters of a given name follow a surname (at most `most`), and in how many tokens:
    single characters that are no function words, or one word of the tagger's that is not a time word,
    verb, adverb or other function word (悠然 in 陶悠然)."""
    given = taken = 0
    while given < most and index + taken < len(tokens):
        _, word, flag = tokens[index + taken]
        if not _HAN.fullmatch(word[0]) or word[0] in _NOT_IN_NAMES:
            break
        name_like = not flag.startswith(_NOT_GIVEN_NAME_FLAGS) and not any(ch in _NOT_IN_NAMES for ch in word)
        if (len(word) == 1 and (most == 2 or name_like)) or (given == 0 and len(word) <= most and name_like):
            given += len(word)
            taken += 1
        elif word not in _jieba().tokenizer.FREQ:
            # A pair the tagger glued from the name's last character and the next word ("谢家|熠写").
            given += 1
            break
        else:
            break
    return given, taken


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


# Any word of two to four syllables before a free-standing 씨 ("홍길동 씨"), and a surname with a two-syllable
# given name glued to 씨 or 님 ("최해정님"; shorter words glued to them are titles or words: 선생님, 날씨).
_KOREAN_BEFORE_SSI = regex.compile(
    r"(?<!\p{Hangul})\p{Hangul}{2,4}(?=[ \t]씨(?!\p{Hangul})|[ \t]씨(?:에게|가|는|를|와|의|한테|께))"
)
_KOREAN_BEFORE_HONORIFIC = regex.compile(
    rf"(?<!\p{{Hangul}})(?:선우|남궁|제갈|황보|독고|사공|[{_KOREAN_SURNAMES}])\p{{Hangul}}{{2}}(?=씨|님)"
)


def korean_names(line: str) -> Iterator[tuple[int, int]]:
    for pattern in (_KOREAN_NAME, _KOREAN_BEFORE_SSI, _KOREAN_BEFORE_HONORIFIC):
        for match in pattern.finditer(line):
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
