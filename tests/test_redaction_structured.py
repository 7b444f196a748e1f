"""Structured detectors shared by redaction and the publishing gate: values found in any script and
inside URLs, documentation values and look-alikes left alone."""

from __future__ import annotations

import pytest

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
    ("key AKIAQ3EXAMPLE7BBLWQZ", "API_KEY", "AKIAQ3EXAMPLE7BBLWQZ"),
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
