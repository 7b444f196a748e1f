"""Structured detectors shared by redaction and the publishing gate: values found in any script and
inside URLs, documentation values and look-alikes left alone."""

from __future__ import annotations

import pytest

from redaction.addresses import find_addresses
from redaction.structured import KINDS, StructuredHit, find_structured


def _found(text: str) -> set[tuple[str, str]]:
    return {(hit.kind, text[hit.start : hit.end]) for hit in find_structured(text)}


FOUND = [
    ("这张信用卡2500 4538 7917 1892，请帮我查一下", "CREDIT_CARD", "2500 4538 7917 1892"),
    ("カード番号は4111-1111-1111-1111です", "CREDIT_CARD", "4111-1111-1111-1111"),
    ("amex 3782 822463 10005 please", "CREDIT_CARD", "3782 822463 10005"),  # 15 digits
    ("maestro 5018 0000 0009 ok", "CREDIT_CARD", "5018 0000 0009"),  # 12 digits
    ("visa 4000 0000 0000 0000 006 ok", "CREDIT_CARD", "4000 0000 0000 0000 006"),  # 19 digits
    ("https://shop.test.io/pay?card=4532015112830366&cvv=1", "CREDIT_CARD", "4532015112830366"),
    ("Überweisung an DE89 3704 0044 0532 0130 00 BANK", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
    ("账户GB82WEST12345698765432谢谢", "IBAN_CODE", "GB82WEST12345698765432"),
    ("ssn 512-44-7319.", "US_SSN", "512-44-7319"),
    ("my ssn is 512447319", "US_SSN", "512447319"),
    ("邮箱zhang.wei@qq.com联系我", "EMAIL_ADDRESS", "zhang.wei@qq.com"),
    ("https://x.io/?to=maria.lopez@gmail.com&x=1", "EMAIL_ADDRESS", "maria.lopez@gmail.com"),
    ("手机13800138000", "PHONE_NUMBER", "13800138000"),
    ("電話は03-1234-5678です", "PHONE_NUMBER", "03-1234-5678"),
    ("звоните +7 912 345-67-89 вечером", "PHONE_NUMBER", "+7 912 345-67-89"),
    ("call 1 (415) 555-2671 today", "PHONE_NUMBER", "1 (415) 555-2671"),
    ("服务器83.142.19.201出错", "IP_ADDRESS", "83.142.19.201"),
    ("Der Server 83.116.58.45 ist nicht erreichbar", "IP_ADDRESS", "83.116.58.45"),  # "ver" is no version
    ("http://54.12.3.4:8080/admin", "IP_ADDRESS", "54.12.3.4"),
    ("addr 2a00:1450:4001:81b::200e", "IP_ADDRESS", "2a00:1450:4001:81b::200e"),
    ("addr 2a00:1450:4001:81b:0:0:0:200e", "IP_ADDRESS", "2a00:1450:4001:81b:0:0:0:200e"),  # no "::"
    ("key AKIAQ3EXAMPLE7BBLWQZ", "API_KEY", "AKIAQ3EXAMPLE7BBLWQZ"),
    # an IBAN or an IP right after its label, with no space (CJK text)
    ("请转账到IBANGB82WEST12345698765432。", "IBAN_CODE", "GB82WEST12345698765432"),
    ("请封禁IP1585:b47:f424:7b1d:185:ca2f:df7f:1b33，谢谢", "IP_ADDRESS", "1585:b47:f424:7b1d:185:ca2f:df7f:1b33"),
    # multicast outside the groups protocols fix is still someone's
    ("IP 226.108.244.1 floods the switch", "IP_ADDRESS", "226.108.244.1"),
    ("version 1.2.3.4 runs on 84.17.33.201 now", "IP_ADDRESS", "84.17.33.201"),  # no link to the version
    # international and trunk-prefixed shapes whatever libphonenumber's metadata says, whole runs
    ("meu telefone +351 81 5890 5574.", "PHONE_NUMBER", "+351 81 5890 5574"),
    ("Rückruf unter (0146) 880115496.", "PHONE_NUMBER", "(0146) 880115496"),
    ("Telefon (06664) 6692959.", "PHONE_NUMBER", "(06664) 6692959"),
    ("请封禁IP71.26.56.184，有事打+86 109-83736570。", "PHONE_NUMBER", "+86 109-83736570"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "PRIVATE_KEY",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
]
SECRETS = [
    ("DATABASE_URL=postgresql://admin:S3cr3t!pw@db.internal:5432/app", "S3cr3t!pw"),
    ("mongodb+srv://app:hunter2go@cluster0.mongodb.net/test", "hunter2go"),
    ("mongodb://pipe:vJTKj(N!)@cluster0.asia/test", "vJTKj(N!)"),  # unencoded punctuation
    ("postgresql://u:a@b#c'd@db.host:5432/app", "a@b#c'd"),  # up to the last "@" before the host
    ("PASSWORD=hunter2\n", "hunter2"),
    ("SECRET_KEY='django-insecure-abc123xyz'", "django-insecure-abc123xyz"),
    ('{"api_key": "9f8e7d6c5b4a3210"}', "9f8e7d6c5b4a3210"),
    ("db:\n  password: Winter2024!\n", "Winter2024!"),
    ("spring.datasource.password=Pa55w0rd", "Pa55w0rd"),
    ('curl -H "Authorization: Bearer abc123DEF456ghi789" https://api.io', "abc123DEF456ghi789"),
    ("headers = {'Authorization': 'Bearer tok_8fJ2kLq9'}", "tok_8fJ2kLq9"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("my password is Tr0ub4dor&3 but", "Tr0ub4dor&3"),
    ("the password is q],(sm}[_-#?jXb.", "q],(sm}[_-#?jXb"),
    ("我的密码是abc12345，", "abc12345"),
    ("пароль: qwerty123", "qwerty123"),
    ('webhook_signing_key = "Zx81QmWp0vTr7yNc3bLk"', "Zx81QmWp0vTr7yNc3bLk"),
    ('clientSecret: "f3A9kLm2Qx7Rt5Wz"', "f3A9kLm2Qx7Rt5Wz"),
    # a line that is one assignment sets the rest of the line, quotes and punctuation included
    ("DB_PASS=rws'U/0FHVU!hP\nDB_HOST=localhost", "rws'U/0FHVU!hP"),
    ("DB_PASS='Hz-,-\"-2!$Ld\nDB_HOST=localhost", "'Hz-,-\"-2!$Ld"),
    ("auth:\n  pass: )<^v2r6'>X0\n  port: 22", ")<^v2r6'>X0"),
    ("export PGPASSWORD=s@nc4F1iG@It\npsql -h db", "s@nc4F1iG@It"),  # a run-together name, after export
    # a quoted value runs to the quote that ends it, and is a literal, never a call
    ('cfg = {"user": "u", "password": "ui)^IBV,|"KR>zJr", "port": 5432}', 'ui)^IBV,|"KR>zJr'),
    ("connect(user='u', passwd='NJwr@Qj'M3~c8', host='db')", "NJwr@Qj'M3~c8"),
    ("connect(user='u', passwd='Q(wb+GKqnNBf-', host='db')", "Q(wb+GKqnNBf-"),
    ("redis://:wgSm?OZS@cache.net:6379/0", "wgSm?OZS"),  # no user
    # prose in many languages, words between the word for password and the verb
    ("пароль от почты: 77O7N*k[4_U+", "77O7N*k[4_U+"),
    ("Mein Passwort lautet L9QbH,=W>eu", "L9QbH,=W>eu"),
    ("我的密码是+_z;Dy4_R#r0;，帮我看看", "+_z;Dy4_R#r0;"),
    ("mi contraseña de gmail es Xq7#pLm2 y no entro", "Xq7#pLm2"),
    ("hasło do poczty: Xk92!pqZ", "Xk92!pqZ"),
    ("My wifi password is &Nywu-jvso'3! but it fails", "&Nywu-jvso'3!"),
    ("hasło: Qx!pq#Zr&", "Qx!pq#Zr&"),  # no digits, no key shape: only the word for password passes PREFILTER
    ("口令：Qx!pq#Zr&", "Qx!pq#Zr&"),
    ("<server><id>nexus</id><password>Secr3t!pw</password></server>", "Secr3t!pw"),  # XML config
    ("vault login --token 'hvs.8fJ2kLq9Zz' --password-file /tmp/pw", "hvs.8fJ2kLq9Zz"),  # a command line's flag
]


@pytest.mark.parametrize(("text", "kind", "value"), FOUND)
def test_values_are_found_next_to_any_script_and_inside_urls(text, kind, value):
    assert (kind, value) in _found(text)


@pytest.mark.parametrize(("text", "value"), SECRETS)
def test_secrets_beyond_key_shapes(text, value):
    assert ("SECRET", value) in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "uuid 123e4567-e89b-12d3-a456-426614174000 in the log",
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "write to test@example.com or ops@mail.example.org or a@b.example",
        "doc addresses 192.0.2.4, 198.51.100.7, 203.0.113.9 and 2001:db8::1",
        "loopback 127.0.0.1, netmask 255.255.255.0, version v1.2.3.4",
        "upgrade from version 1.2.3.4 to 2.0.0.1, then versions 3.1.0.2 and 3.1.0.7 or v4.0.0.1 → 4.0.0.12",
        "timestamp 1700000000000 and order 20231225000001",
        "pi is 3.14159265358979 and 0.000123456789",
        "password: ${DB_PASSWORD}, api_key = os.environ['KEY'], password: str",
        "token = 'YOUR_TOKEN_HERE'\npassword = request.form['password']\nmax_tokens=512\ntoken_type: bearer",
        "I set OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx as in the docs",
        "the bearer instrument is a token gesture",
        "if password == 'x': pass",
        "postgresql://user:password@localhost/db and mysql://root:${DB_PASS}@db:3306/app",
        "SSN 123-45-6789 is the sample on every form",
        "the meeting is 2024-03-15 at 10:30:00",
        "The password is incorrect, what should I do?",  # prose states no password
        "PASSWORD_MIN_LENGTH=12\nPASSWORD_HASHER=argon2",  # settings about the password
        "Set password = input('Password: ') and hash it",
        "s_password = newPassword;\nbypass = Xk92mmQ7",  # a variable and its ";"; "bypass" names no secret
        "mDNS uses 224.0.0.251, SSDP 239.255.255.250; the VPC is 10.0.0.0/8",  # protocol groups, a network
        "<password>${env.DB_PASSWORD}</password> and the --password flag is deprecated",
    ],
)
def test_look_alikes_and_documentation_values_are_not_hits(text):
    assert find_structured(text) == []


def test_invalid_checksums_are_not_hits():
    assert _found("card 4111 1111 1111 1112 and DE89 3704 0044 0532 0130 01") == set()


def test_hits_are_typed_sorted_and_filtered_by_kind():
    text = "mail ana@gmail.com, ip 83.142.19.201"
    hits = find_structured(text)
    assert [hit.kind for hit in hits] == ["EMAIL_ADDRESS", "IP_ADDRESS"]
    assert all(isinstance(hit, StructuredHit) and hit.kind in KINDS for hit in hits)
    assert find_structured(text, kinds=["IP_ADDRESS"]) == [hits[1]]


def test_the_prefilter_passes_every_text_with_a_hit():
    """Arrow's RE2 kernel with PREFILTER must let through every text the detectors find something in,
    or a column scan (verify, the residual-PII filter) would miss it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from redaction.structured import PREFILTER

    texts = [text for text, *_ in FOUND + SECRETS]
    assert all(find_structured(text) for text in texts)
    assert pc.match_substring_regex(pa.array(texts), PREFILTER).to_pylist() == [True] * len(texts)
    assert not pc.match_substring_regex(pa.array(["Hello, how are you today?"]), PREFILTER)[0].as_py()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Meine Adresse: Am Springebruch 315, 10167 Langen.", "Am Springebruch 315, 10167 Langen"),
        ("Ich wohne jetzt in der Fuchsbau 1072.", "Fuchsbau 1072"),
        ("Schick es an Marie-Elisabeth-von-Humboldt-Weg 182, 51727 Sonthofen.",
         "Marie-Elisabeth-von-Humboldt-Weg 182, 51727 Sonthofen"),
        ("Meine Adresse: Geißlerpfad 367, 95990 Schwalbach.", "Geißlerpfad 367, 95990 Schwalbach"),
        ("Mi dirección es Rúa Moratín, 790, Valencia.", "Rúa Moratín, 790"),
        ("Vivo en Calle Alto de la Vía, 925.", "Calle Alto de la Vía, 925"),
        ("Envíalo a San Andrés, 906, 26638 Jerez.", "San Andrés, 906, 26638 Jerez"),
        ("Envie para Rua 4 De Agosto 857, 5307 Feira.", "Rua 4 De Agosto 857, 5307 Feira"),
        ("Livraison au 747 Saint Victor Hugo.", "747 Saint Victor Hugo"),
        ("Mon adresse : 1121 Cours Du 22 Bmna, 98305 Roubaix.", "1121 Cours Du 22 Bmna, 98305 Roubaix"),
        ("Please send the invoice to:\n646 Matthew Arcade\nChicago 26840", "646 Matthew Arcade\nChicago 26840"),
        ("Отправьте: Троицк, ул. Остроумовская Б. 309.", "ул. Остроумовская Б. 309"),
        ("请寄到泸州市滠口八条591号。", "泸州市滠口八条591号"),
        ("收货地址：西宁市 潘塘九条230号。", "西宁市 潘塘九条230号"),
        ("我家在宣武门西六条810号，离地铁很近。", "宣武门西六条810号"),
        ("奈良市今治市 92-47-66に送ってください。", "奈良市今治市 92-47-66"),
        ("住所は東京都新宿区西新宿二丁目8番1号です", "東京都新宿区西新宿二丁目8番1号"),
    ],
)
def test_street_addresses_in_national_formats(text, address):
    assert [text[start:end] for start, end in find_addresses(text)] == [address]


@pytest.mark.parametrize(
    "text",
    [
        "Am 5. Mai 2024 treffen wir uns in der Innenstadt.",
        "Ich wohne seit 2019 in Berlin.",
        "I moved to Berlin in 2020.",
        "Send it to John 3 times a week.",
        "Chapter 12, page 345: the Treaty of Versailles.",
        "请把第3章第12节翻译成英文。",
    ],
)
def test_address_cues_need_a_street_and_a_house_number(text):
    assert list(find_addresses(text)) == []


def test_the_structured_recognizer_reads_phone_metadata_when_it_loads():
    """libphonenumber reads a region's metadata on first use; the recognizer reads all of it at start-up, so
    no worker pays for it in the middle of its first texts (nor does a timed benchmark)."""
    from phonenumbers import SUPPORTED_REGIONS, PhoneMetadata

    from redaction.recognizers import StructuredRecognizer

    StructuredRecognizer(["PHONE_NUMBER"], ("US",))
    assert set(SUPPORTED_REGIONS) <= set(PhoneMetadata._region_metadata)
