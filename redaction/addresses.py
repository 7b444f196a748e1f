"""Street addresses and dates of birth in the languages of the arena, found by their written shape.

An address is a street line (a house number and a street-type word, in the order each country writes
them: "42 Elm Street", "Hauptstraße 5", "12 rue de la Paix", "Calle Mayor 3", "ул. Ленина, д. 5",
"朝阳区建国路88号", "東京都港区六本木6-10-1", "서울시 강남구 테헤란로 152") with what follows it on the
same address (apartment, postcode and town). A date of birth is a date right after a birth cue ("date of
birth", "born on", "geboren am", "né le", "出生日期", "生年月日", ...); other dates are not personal.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

_STREET_TYPES_EN = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|Row|Grove|Gardens|Mews|Hill|Park|Walk|"
    "Alley|Bend|Bluff|Branch|Bridge|Brook|Burg|Bypass|Camp|Canyon|Cape|Causeway|Center|Centre|Cliff|Club|Common|"
    "Corner|Course|Cove|Creek|Crest|Crossing|Curve|Dale|Dam|Divide|Estates|Expressway|Extension|Falls|Ferry|Field|"
    "Fields|Flat|Flats|Ford|Forest|Forge|Fork|Fort|Freeway|Garden|Gateway|Glen|Green|Harbor|Haven|Heights|Hills|"
    "Hollow|Inlet|Island|Isle|Junction|Key|Knoll|Lake|Lakes|Landing|Light|Loaf|Lock|Locks|Lodge|Loop|Mall|Manor|"
    "Meadow|Meadows|Mill|Mills|Mission|Motorway|Mount|Mountain|Neck|Orchard|Oval|Pass|Path|Pike|Pine|Pines|Plain|"
    "Plains|Plaza|Point|Points|Port|Ports|Prairie|Radial|Ranch|Rapid|Rapids|Rest|Ridge|River|Route|Run|Shoal|"
    "Shore|Shores|Spring|Springs|Spur|Station|Stravenue|Stream|Summit|Throughway|Trace|Track|Trafficway|Tunnel|"
    "Turnpike|Underpass|Union|Valley|Viaduct|View|Views|Village|Ville|Vista|Wall|Well|Wells|"
    "Annex|Arcade|Bayou|Beach|Bottom|Crossroad|Estate|Overpass|Passage|Ramp|Skyway|Trailer"
)
_CAPITALISED = r"\p{Lu}[\p{L}'’.-]*"
_APARTMENT = r"(?:,?\s*(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.?|Room|Rm\.?|#)\s*[\p{L}\d-]{1,6})?"
# ", Springfield, IL 62704", "\nWest Mary, WA 74405", ", London SW1A 1AA", ", 10115 Berlin", ", 75001 Paris"
_TOWN_TAIL = (
    r"(?:(?:,[ \t]*|[ \t]*\n[ \t]*)(?:"
    r"(?:\p{Lu}[\p{L}'’.-]*[ \t]?){1,3},?[ \t]+(?:[A-Z]{2}[ \t]+)?\d{5}(?:-\d{4})?"  # town, ST 12345
    r"|(?:\p{Lu}[\p{L}'’.-]*[ \t]?){1,3},?[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"  # town SW1A 1AA
    r"|\d{4,5}[ \t]+(?:\p{Lu}[\p{L}'’.-]*[ \t]?){1,3}"  # 10115 Berlin
    r"|[A-Z]{2}[ \t]+\d{5}"  # IL 62704
    r"))?"
)
_ADDRESS_PATTERNS = [
    # English: number, name words, street type.
    rf"(?<![\p{{L}}\d])\d{{1,6}}[A-Za-z]?[ \t]+(?:[NSEW]\.?[ \t]+)?(?:{_CAPITALISED}[ \t]+){{1,4}}"
    rf"(?:{_STREET_TYPES_EN})\.?(?![\p{{L}}]){_APARTMENT}{_TOWN_TAIL}",
    # German, Dutch, Scandinavian: name+street type, then the number.
    r"(?<![\p{L}])\p{Lu}[\p{L}-]*(?:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm|ufer|steig|chaussee|"
    r"pfad|höhe|stieg|graben|markt|twiete|winkel|zeile|reihe|bogen|anger|kamp|koppel|promenade|"
    r"gracht|laan|straat|plein|kade|gatan|vägen|veien|gade|vej|"
    r"-(?:Straße|Strasse|Weg|Gasse|Allee|Platz|Ring|Damm|Ufer|Pfad|Steig|Chaussee))[ \t]+\d{1,4}[a-z]?" + _TOWN_TAIL,
    # German street types as a word of their own: "Indische Straße 455", "Fügener Weg 11".
    r"(?<![\p{L}])(?:\p{Lu}[\p{L}-]*[ \t]+){1,3}(?:Straße|Strasse|Weg|Gasse|Allee|Platz|Ring|Damm|Ufer|Chaussee)"
    r"[ \t]+\d{1,4}[a-z]?" + _TOWN_TAIL,
    # French: number, street type, name.
    r"(?<![\p{L}\d])\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|route|cours|square|voie|cour|passage|sentier|villa|cité|résidence|hameau|esplanade|promenade|"
    r"faubourg|parvis|venelle|ruelle|sente|mail|rond-point|lotissement|montée|chaussée|clos|carrefour|traverse|"
    r"rampe|galerie|lieu-dit|domaine|parc)[ \t]+(?:(?:de|du|des|de la|de l'|d'|la|le|les)[ \t]?)?"
    r"\p{Lu}[\p{L}'’-]*(?:[ \t]+(?:de |du |des |la |le )?(?:\p{Lu}[\p{L}'’-]*|\d{1,3}(?=[ \t]+\p{Lu}))){0,3}"
    + _TOWN_TAIL,
    # Spanish, Italian, Portuguese: street type, name, number.
    r"(?<![\p{L}\d])(?P<number_first>\d{1,5},?[ \t]+)?"
    r"(?:Calle|C/|Avenida|Avda\.|Av\.|Paseo|Plaza|Camino|Carrera|Ronda|Travesía|Via|Viale|Piazza|"
    r"Rúa|Explanada|Glorieta|Pasaje|Callejón|Cuesta|Carretera|Vía|Rambla|Senda|Urbanización|Bulevar|Calzada|"
    r"Carrer|Avinguda|Passeig|Strada|Vico|Contrada|Borgo|Lungomare|Salita|Traversa|"
    r"Corso|Vicolo|Largo|Piazzale|Rua|Travessa|Praça|Estrada|Alameda|Beco|Calçada|Ladeira|Rodovia|Praceta)[ \t]+"
    r"(?:(?:de|del|de la|de los|de las|della|dei|degli|delle|di|da|do|dos|das)[ \t]+)?(?:\d{1,2}[ \t]+)?"
    r"\p{Lu}[\p{L}'’-]*(?:[ \t]+(?:de |del |di |da |do )?\p{Lu}[\p{L}'’-]*){0,3}"
    r"(?(number_first)|,?[ \t]+(?:n[º°o]\.?[ \t]*)?\d{1,5}[A-Za-z]?(?![\d])(?:,?[ \t]*\d{1,2}[º°ª][ \t]?[A-Za-z]?)?)"
    + _TOWN_TAIL,
    # Russian: street type, name, house (and flat).
    r"(?<![\p{L}])(?:ул\.|улица|пр\.|пр-т|проспект|пер\.|переулок|бульвар|б-р|шоссе|наб\.|набережная|пл\.|площадь|"
    r"(?i:аллея|проезд|тупик))"
    r"[ \t]*\p{Lu}[\p{L}-]*\.?(?:[ \t]+\p{L}[\p{L}-]*\.?){0,2},?[ \t]*(?:д\.|дом)?[ \t]*\d{1,4}[\p{L}]?"
    r"(?:[,\s]*(?:корп\.|к\.|стр\.)[ \t]*\d{1,3})?(?:[,\s]*(?:кв\.|квартира)[ \t]*\d{1,4})?",
    # Chinese: (province, city, district,) road, number.
    r"(?:[\p{Han}]{2,6}(?:省|自治区)[ \t]?)?(?:[\p{Han}]{2,6}市[ \t]?)?(?:[\p{Han}]{1,6}(?:区|县|镇|區|縣|鎮)[ \t]?)?"
    r"[\p{Han}]{1,10}(?:路|街|大道|大街|巷|胡同|弄|道|条|條|里)[0-9０-９]{1,5}(?:号|號)"
    r"(?:[\p{Han}0-9０-９]{0,10}(?:室|楼|樓|栋|棟|单元|單元))?",
    # Japanese: prefecture, city or ward, town, block numbers.
    r"(?:東京都|北海道|(?:京都|大阪)府|[\p{Han}]{2,3}県)?[\p{Han}\p{Katakana}ヶケ]{1,8}(?:市|区|町|村|郡)"
    r"[\p{Han}\p{Katakana}\p{Hiragana}ヶケ]{0,10}?[ \t　]?[0-9０-９一二三四五六七八九十]{1,4}(?:丁目|[-－‐ー])"
    r"[0-9０-９]{1,4}(?:(?:番地?|[-－‐ー])[0-9０-９]{1,4}号?)?",
    # Korean road-name addresses: (city, district,) road, building number.
    r"(?:[\p{Hangul}]{2,}(?:특별시|광역시|시|도)[ \t]*)?(?:[\p{Hangul}]{1,}(?:구|군)[ \t]*)?"
    r"[\p{Hangul}0-9]{1,}(?:대로|로|길)[ \t]*\d{1,4}(?:-\d{1,4})?(?:[ \t]*\d{1,4}호)?",
]
# One pattern at a time: each keeps its own literal-prefix search, which one alternation of all of them loses
# (three times slower).
_ADDRESSES = [regex.compile(pattern) for pattern in _ADDRESS_PATTERNS]
# Chinese is written without spaces, so the Han run before a city can be the sentence's own verb.
_CHINESE_LEAD_IN = regex.compile(
    r"^请?(?:[我你他她]们?的?)?家?(?:现在|目前)?(?:住在|住|在|是|寄到|送到|发到|位于|地址(?:是|为)?[：:]?)+"
)


# Words that announce an address: where someone lives, where to send or deliver something, "address:".
# After one, a street's name and house number need no street-type word ("Am Springebruch 315",
# "San Andrés, 906", "in der Humboldthöhe 395", "au 747 Saint Victor Hugo").
_ADDRESS_CUE = regex.compile(
    r"(?i:(?<![\p{L}])(?:"
    r"live[sd]?[ \t]+(?:at|on)|living[ \t]+at|moved[ \t]+to|address(?:[ \t]+is)?|located[ \t]+at|reside[sd]?[ \t]+at|"
    r"(?:ship|send|deliver|mail)(?:[ \t]+(?:it|them|this|that|everything))?[ \t]+to|"
    r"wohn(?:e|en|t)|leb(?:e|en|t)|adresse|anschrift|zieh(?:e|en|t)|schick(?:e|t|en)?(?:[ \t]+(?:es|sie|das))?|"
    r"liefer(?:e|t|n)?(?:[ \t]+(?:es|sie|das))?|"
    r"viv[eo]n?|direcci[oó]n(?:[ \t]+es)?|domicilio(?:[ \t]+es)?|env[ií][ae](?:lo|la|los|las)?|entrega(?:[ \t]+es)?|"
    r"habit(?:e|ons|ez|ent)|livr(?:ez|er|aison)(?:-le|-la|-les)?|envoy(?:ez|er)(?:-le|-la|-les)?|"
    r"mor(?:o|a|amos)|endere[cç]o(?:[ \t]+[eé])?|envi[ea](?:-o|-a)?|"
    r"abit(?:o|a|iamo)|indirizzo(?:[ \t]+[eè])?|spedisc(?:i|o)(?:lo|la|li|le)?|consegna(?:re)?|"
    r"живу|живёт|живем|адрес(?:у)?|доставк[аиу]"
    r")(?![\p{L}]))"
)
# Between the cue and the street: a colon, and up to three lower-case words ("jetzt in der", "en la", "по адресу");
# a capitalised "Am", "An der" belongs to the street's name.
_CUE_GAP = regex.compile(r"[ \t]*:?[ \t]+(?:\p{Ll}+[ \t]+){0,3}")
_NAME_WORD = r"\p{Lu}[\p{L}'’.-]*"
_CONNECTIVE = r"(?:de|del|de la|la|los|las|von|der|den|dem|zum|zur|do|da|dos|das|di|della|du|des|le|y|e|und)"
_CUED_STREET = regex.compile(
    rf"(?:{_NAME_WORD}(?:[ \t]+(?:{_CONNECTIVE}[ \t]+)?(?:{_NAME_WORD}|\d{{1,2}}(?=[ \t]+\p{{Lu}}))){{0,4}}"
    r",?[ \t]+(?:n[º°o]\.?[ \t]*)?\d{1,5}[a-zA-Z]?"
    rf"|\d{{1,5}}[a-zA-Z]?,?[ \t]+{_NAME_WORD}(?:[ \t]+(?:{_CONNECTIVE}[ \t]+)?{_NAME_WORD}){{1,4}})"
    r"(?![\p{L}\d])(?=[ \t]*(?:[,.;:!?)\n]|$))" + _TOWN_TAIL
)


def find_addresses(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of street addresses (street line, then apartment, town and postcode when they follow)."""
    if not any(ch.isdigit() for ch in text):  # every address here has a house number
        return
    # The leftmost match wins, then the earlier pattern, as in one alternation.
    candidates = sorted(
        (match.start(), index, match.end())
        for index, pattern in enumerate(_ADDRESSES)
        for match in pattern.finditer(text)
    )
    found: list[tuple[int, int]] = []
    for start, _, end in candidates:
        if found and start < found[-1][1]:
            continue
        lead_in = _CHINESE_LEAD_IN.match(text, start, end)
        found.append((lead_in.end() if lead_in else start, end))
    for cue in _ADDRESS_CUE.finditer(text):
        gap = _CUE_GAP.match(text, cue.end())
        street = _CUED_STREET.match(text, gap.end()) if gap else None
        if street and not any(start < street.end() and street.start() < end for start, end in found):
            found.append(street.span())
    for start, end in sorted(found):
        while end > start and text[end - 1] in " \t,.":
            end -= 1
        yield start, end


_MONTHS = (
    r"January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|"
    r"Januar|Jänner|Februar|März|Mai|Juni|Juli|Oktober|Dezember|"
    r"janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|"
    r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    r"gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|"
    r"janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|dezembro|"
    r"января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
)
_DATE = (
    r"(?:\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}[./-]\d{1,2}[./-]\d{1,2}"
    rf"|(?:\d{{1,2}}(?:st|nd|rd|th|er|º)?\.?[ \t]+(?:de[ \t]+)?)?(?i:{_MONTHS})\.?[ \t]+(?:de[ \t]+)?"
    r"(?:\d{1,2}(?:st|nd|rd|th)?,?[ \t]+)?\d{4}(?:[ \t]*(?:г\.|года))?"
    r"|\d{4}[ \t]*年[ \t]*\d{1,2}[ \t]*月[ \t]*\d{1,2}[ \t]*日|\d{4}년[ \t]*\d{1,2}월[ \t]*\d{1,2}일)"
)
_BIRTH_CUE = (
    r"(?i:date[ \t]of[ \t]birth|d\.?o\.?b\.?|birth[ \t]?date|birthday(?:[ \t]is)?|born(?:[ \t]on)?|"
    r"geburtsdatum|geboren(?:[ \t]am)?|date[ \t]de[ \t]naissance|née?[ \t]le|fecha[ \t]de[ \t]nacimiento|"
    r"nacid[oa][ \t](?:el)?|data[ \t]di[ \t]nascita|nat[oa][ \t]il|data[ \t]de[ \t]nascimento|nascid[oa][ \t]em|"
    r"дата[ \t]рождения|родил(?:ся|ась)|д\.р\.|出生日期|生日|出生于|出生於|生年月日|生まれ|생년월일|생일)"
)
_BIRTH_DATE = regex.compile(
    rf"{_BIRTH_CUE}[ \t]*(?:is|was|:|：|-|=|は|是|为)?[ \t]*(?:the[ \t]+)?({_DATE})"
    rf"|({_DATE})[ \t]*(?:生まれ|出生|生)"  # Japanese and Chinese put the cue after the date
)


# Every birth date has a cue; most texts have none, and then the date patterns are not run.
_BIRTH_HINT = regex.compile(_BIRTH_CUE + "|生")


def find_birth_dates(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of dates written right after a birth cue."""
    if _BIRTH_HINT.search(text) is None:
        return
    for match in _BIRTH_DATE.finditer(text):
        yield match.span(1) if match.group(1) else match.span(2)
