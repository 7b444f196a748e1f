"""Held-out PII sets for bench_redaction.py: templates in nine languages filled with values from mimesis.

The recognizers were not written from these sets: their name lists come from the US Census and Faker,
the values here from mimesis (another generator, other name lists, other address and phone formats),
and the templates were written after the recognizers. Each template belongs to one split: `dev` (to
look at and tune on) or `test` (reported, never tuned on); values are drawn from split-specific seeds.
Card numbers, IBANs and SSNs come from mimesis or from this file's own check-digit code, never from
redaction/.

Categories: names per language, structured values per language, street addresses, secrets (passwords,
app secrets, bearer tokens, provider keys, private keys), and hard negatives (texts with no personal
data that look like they might have some). Public figures and fictional characters are a set of their
own: the redaction policy redacts every person's name, so they are reported apart.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass, field

from mimesis import Address, Cryptographic, Internet, Payment, Person
from mimesis.locales import Locale

LANGUAGES = ("en", "es", "de", "fr", "pt", "it", "ru", "zh", "ja", "ko")
LANGUAGE_GROUPS = {"en": ("en",), "es/de/fr/pt/it": ("es", "de", "fr", "pt", "it"), "ru/zh/ja": ("ru", "zh", "ja"),
                   "ko": ("ko",)}  # fmt: skip
_LOCALES = {"en": Locale.EN, "es": Locale.ES, "de": Locale.DE, "fr": Locale.FR, "pt": Locale.PT, "it": Locale.IT,
            "ru": Locale.RU, "zh": Locale.ZH, "ja": Locale.JA, "ko": Locale.KO}  # fmt: skip
_SPLIT_SEEDS = {"dev": 101, "test": 202}


@dataclass
class HeldOutCase:
    category: str  # names | structured | address | secret | negative | public
    language: str
    text: str
    gold: list[tuple[str, int, int]] = field(default_factory=list)  # (entity type, start, end)


# Templates: "{name}" a full name, "{first}" the same person's given name, "{name2}" another person.
# Each list alternates dev, test, dev, test ... (the last template of each list, a dev one, was added after
# the first test figures; the test templates are unchanged).
_NAME_TEMPLATES = {
    "en": ["Write a thank-you note to {name} for the flowers. {first} loved tulips.",
           "Can you draft an email to {name} asking to move our meeting? Mention that {name2} will join.",
           "{name} is my landlord and he hasn't fixed the heating in weeks. How should I complain to {first}?",
           "My coworker {name} keeps taking credit for my work. Should I talk to {first} directly?",
           "Please summarize this: {name} and {name2} signed the lease on Monday.",
           "i need a birthday poem for my sister {name}, she turns 30. {first} likes cats.",
           "Since {name} moved to Leeds, {first} and {name2} share the car."],
    "es": ["Escribe un correo a {name} para pedirle el informe. {first} siempre llega tarde.",
           "Mi vecino {name} hace ruido todas las noches. ¿Cómo hablo con {first}?",
           "Redacta una carta de recomendación para {name}, que trabajó conmigo tres años.",
           "Ayer {name} y {name2} discutieron en la oficina.",
           "Dile a {name} que lo espero. {first} no contesta el teléfono."],
    "de": ["Schreib eine E-Mail an {name} wegen der Rechnung. {first} antwortet sonst nie.",
           "Mein Kollege {name} hat meinen Geburtstag vergessen. Wie sage ich es {first}?",
           "Formuliere eine Kündigung an {name}, meinen Vermieter.",
           "Gestern haben {name} und {name2} den Vertrag unterschrieben.",
           "Heute hat {name} angerufen; sag {first}, dass ich zurückrufe."],
    "fr": ["Écris un message à {name} pour le remercier. {first} m'a beaucoup aidé.",
           "Ma collègue {name} ne répond jamais à mes courriels. Que dire à {first} ?",
           "Rédige une lettre de motivation adressée à {name}.",
           "Hier, {name} et {name2} ont signé le bail.",
           "Demain {name} et {name2} viennent dîner chez nous. {first} est végétarien."],
    "pt": ["Escreva um e-mail para {name} sobre a reunião. {first} pediu a ata.",
           "Meu chefe {name} me pediu horas extras. Como respondo ao {first}?",
           "Faça um convite de aniversário para {name}.",
           "Ontem {name} e {name2} assinaram o contrato.",
           "Minha irmã {name} vai casar. O que dou de presente para {first}?"],
    "it": ["Scrivi una mail a {name} per ringraziarlo. {first} è stato gentilissimo.",
           "Il mio vicino {name} parcheggia sempre davanti al mio garage. Cosa dico a {first}?",
           "Prepara una lettera di presentazione per {name}.",
           "Ieri {name} e {name2} hanno firmato il contratto.",
           "Domani {name} arriva in ufficio con {name2}."],
    "ru": ["Напиши письмо для {name} с просьбой перенести встречу.",
           "Мой коллега {name} постоянно опаздывает. Как поговорить с ним?",
           "Составь поздравление с днём рождения: {name} исполняется сорок лет.",
           "Вчера {name} и {name2} подписали договор аренды.",
           "Передай, пожалуйста: {name} просит перезвонить."],
    "zh": ["请帮我给{name}写一封感谢信，感谢他的帮助。",
           "我的同事{name}总是抢我的功劳，我该怎么办？",
           "帮我写一段生日祝福，送给{name}。",
           "昨天{name}和{name2}签了租房合同。",
           "{name}是我的大学同学，我们很久没联系了。"],
    "ja": ["{name}さんにお礼のメールを書いてください。",
           "同僚の{name}さんがいつも遅刻します。どう伝えればいいですか。",
           "{name}さんへの誕生日メッセージを考えてください。",
           "昨日、{name}さんと{name2}さんが契約書に署名しました。",
           "部長の{name}さんに報告書を送りました。"],
    "ko": ["{name} 씨에게 감사 이메일을 써 주세요.",
           "제 동료 {name} 씨가 항상 늦어요. 어떻게 말하면 좋을까요?",
           "{name}님께 드릴 생일 축하 메시지를 써 주세요.",
           "어제 {name} 씨와 {name2} 씨가 계약서에 서명했어요.",
           "{name} 씨와 함께 점심을 먹었어요."],
}  # fmt: skip

_STRUCTURED_TEMPLATES = {
    "en": ["Update my profile: email {email}, phone {phone}.", "My card {card} was charged twice, please help.",
           "Wire the refund to IBAN {iban}.", "The server at {ip} keeps rejecting my SSH key.",
           "My SSN is {ssn} and my email is {email}.", "Call me at {phone} or write to {email}."],
    "es": ["Mi correo es {email} y mi teléfono {phone}.", "Me cobraron dos veces en la tarjeta {card}.",
           "Haz la transferencia al IBAN {iban}.", "El servidor {ip} no responde."],
    "de": ["Meine E-Mail ist {email}, Telefon {phone}.", "Die Karte {card} wurde doppelt belastet.",
           "Bitte überweise auf IBAN {iban}.", "Der Server {ip} ist nicht erreichbar."],
    "fr": ["Mon courriel est {email} et mon numéro {phone}.", "Ma carte {card} a été débitée deux fois.",
           "Virement sur l'IBAN {iban} s'il vous plaît.", "Le serveur {ip} ne répond plus."],
    "pt": ["Meu e-mail é {email} e meu telefone {phone}.", "Meu cartão {card} foi cobrado duas vezes.",
           "Transfira para o IBAN {iban}.", "O servidor {ip} não responde."],
    "it": ["La mia email è {email}, telefono {phone}.", "La carta {card} è stata addebitata due volte.",
           "Fai il bonifico sull'IBAN {iban}.", "Il server {ip} non risponde."],
    "ru": ["Моя почта {email}, телефон {phone}.", "С карты {card} списали деньги дважды.",
           "Переведите на IBAN {iban}.", "Сервер {ip} не отвечает."],
    "zh": ["我的邮箱是{email}，电话{phone}。", "这张信用卡{card}被重复扣款了。",
           "请转账到IBAN{iban}。", "服务器{ip}连不上了。"],
    "ja": ["メールは{email}、電話は{phone}です。", "カード{card}で二重に請求されました。",
           "IBAN{iban}に振り込んでください。", "サーバー{ip}に接続できません。"],
    "ko": ["제 이메일은 {email}이고 전화번호는 {phone}입니다.", "카드 {card}에서 두 번 결제됐어요.",
           "IBAN {iban}으로 송금해 주세요.", "서버 {ip}에 접속이 안 돼요."],
}  # fmt: skip

_ADDRESS_TEMPLATES = {
    "en": ["Ship it to {address}, {city} {postal}.", "I moved to {address} last week, update my records."],
    "es": ["Envíalo a {address}, {postal} {city}.", "Vivo en {address} desde hace un año."],
    "de": ["Schick es an {address}, {postal} {city}.", "Ich wohne jetzt in der {address}."],
    "fr": ["Envoyez-le au {address}, {postal} {city}.", "J'habite au {address} depuis mars."],
    "pt": ["Envie para {address}, {postal} {city}.", "Moro na {address} há dois anos."],
    "it": ["Spediscilo a {address}, {postal} {city}.", "Abito in {address} da poco."],
    "ru": ["Отправьте на адрес: {city}, {address}.", "Я живу по адресу {address}."],
    "zh": ["请寄到{city}{address}。", "我住在{address}。"],
    "ja": ["{city}{address}に送ってください。", "住所は{address}です。"],
    "ko": ["{city} {address}로 보내 주세요.", "제 주소는 {address}입니다."],
}  # fmt: skip

# Dev-only templates: more shapes to tune on (cards and IPs in every language, addresses and passwords in
# other sentences and files). They are appended to the dev split alone, so the alternation above, and with it
# every test template, stays as it was.
_DEV_STRUCTURED_TEMPLATES = {
    "en": ["Charge {card} for the order and text me at {phone}.", "Block all traffic from {ip} on the firewall."],
    "es": ["Pagué con la tarjeta {card}, ¿por qué no aparece?", "Bloquea la IP {ip} en el cortafuegos."],
    "de": ["Meine Kreditkarte {card} ist abgelaufen.", "Die Adresse {ip} greift ständig an, Rückruf unter {phone}."],
    "fr": ["Paiement refusé sur la carte {card}.", "Bloque l'adresse {ip} sur le pare-feu."],
    "pt": ["Paguei com o cartão {card} ontem.", "Bloqueie o IP {ip} no firewall."],
    "it": ["Ho pagato con la carta {card} ieri.", "Blocca l'indirizzo {ip} sul firewall."],
    "ru": ["Оплатил картой {card}, но заказ не пришёл.", "Заблокируй IP {ip} на сервере."],
    "zh": ["我的卡号是{card}，请帮我查询。", "请封禁IP{ip}，有事打{phone}。"],
    "ja": ["カード番号{card}の支払いを確認してください。", "IPアドレス{ip}をブロックして。連絡先{phone}"],
    "ko": ["카드번호 {card} 결제 내역을 확인해 주세요.", "IP {ip} 차단해 주세요."],
}  # fmt: skip
_DEV_ADDRESS_TEMPLATES = {
    "en": ["My address is {address}, {city}.", "Please send the invoice to:\n{address}\n{city} {postal}"],
    "es": ["Mi dirección es {address}, {city}.", "La entrega es en {address}, {postal} {city}."],
    "de": ["Meine Adresse: {address}, {postal} {city}.", "Die Wohnung liegt in der {address}, dritter Stock."],
    "fr": ["Mon adresse : {address}, {postal} {city}.", "Livraison au {address}."],
    "pt": ["Meu endereço é {address}, {city}.", "A entrega é na {address}, {postal} {city}."],
    "it": ["Il mio indirizzo è {address}, {city}.", "Consegna in {address}, {postal} {city}."],
    "ru": ["Адрес доставки: {address}, {city}.", "Мы переехали: {city}, {address}."],
    "zh": ["收货地址：{city}{address}。", "我家在{address}，离地铁很近。"],
    "ja": ["{address}に住んでいます。", "届け先：{city}{address}"],
    "ko": ["배송지: {address}", "저는 {city} {address}에 살아요."],
}  # fmt: skip
_DEV_SECRET_TEMPLATES = [
    ("password", "DB_PASS={pw}\nDB_HOST=localhost"),
    ("password", 'cfg = {{"user": "{user}", "password": "{pw}", "port": 5432}}'),
    ("password", "auth:\n  username: {user}\n  pass: {pw}\n  port: 22"),
    ("password", "mysql.connector.connect(user='{user}', passwd='{pw}', host='db')"),
    ("password", "export PGPASSWORD={pw}\npsql -h db -U {user}"),
    ("password", "redis://:{pw}@cache.{host}:6379/0"),
    ("password", "mi contraseña es {pw} y no puedo entrar"),
    ("password", "пароль от почты: {pw}"),
    ("password", "我的密码是{pw}，帮我看看为什么登录不了"),
    ("password", "Mein Passwort lautet {pw}"),
]
_DEV_NEGATIVES = [
    "mDNS uses 224.0.0.251 and SSDP 239.255.255.250; explain both.",
    "Am 5. Mai 2024 treffen wir uns in der Innenstadt.",
    "The password is incorrect, what should I do?",
    "Chapter 12, page 345: the Treaty of Versailles.",
    "请把第3章第12节翻译成英文。",
    "東京都の人口は何人ですか？",
    "PASSWORD_MIN_LENGTH=12\nPASSWORD_HASHER=argon2",
    "Use 10.0.0.0/8 for the VPC and 2001:db8::1 in the docs.",
]

_SECRET_TEMPLATES = [
    ("password", "DATABASE_URL=postgresql://{user}:{pw}@db.{host}:5432/app"),
    ("password", "db:\n  host: localhost\n  user: {user}\n  password: {pw}\n"),
    ("password", "My wifi password is {pw} but my laptop won't connect."),
    ("password", 'conn = psycopg2.connect(host="10.2.0.4", user="{user}", password="{pw}")'),
    ("password", "mongodb://{user}:{pw}@cluster0.{host}/test?retryWrites=true"),
    ("password", "DB_PASSWORD={pw}\nDB_USER={user}\nDEBUG=false"),
    ("app_secret", "SECRET_KEY = '{hex}'\nDEBUG = False"),
    ("app_secret", "APP_SECRET={hex}\nPORT=8080"),
    ("app_secret", 'const config = {{ clientSecret: "{hex}", region: "eu-west-1" }};'),
    ("app_secret", "settings:\n  jwt_secret: {hex}\n  ttl: 3600"),
    ("app_secret", 'export STRIPE_WEBHOOK_SIGNING_SECRET="{hex}"'),
    ("app_secret", '{{"api_key": "{hex}", "model": "small"}}'),
    ("bearer", "curl -H 'Authorization: Bearer {tok}' https://api.{host}/v1/items"),
    ("bearer", 'headers = {{"Authorization": "Bearer {tok}"}}'),
    ("bearer", "Authorization: Bearer {tok}\nAccept: application/json"),
    ("bearer", 'fetch(url, {{ headers: {{ Authorization: `Bearer {tok}` }} }})'),
    ("provider_key", "openai.api_key = '{openai}'"),
    ("provider_key", "git clone https://{github}@github.com/acme/app.git"),
    ("provider_key", "aws configure set aws_access_key_id {aws}"),
    ("provider_key", "HF_TOKEN={hf} python train.py"),
    ("private_key", "{pem}\nwhy does ssh say invalid format?"),
    ("private_key", "Here is my key:\n{pem}"),
]

_NEGATIVES = [
    "Generate a UUID like 123e4567-e89b-12d3-a456-426614174000 for each row.",
    "The commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b is the one that broke the build.",
    "Send the test email to user@example.com and check the logs for 192.0.2.15.",
    "Upgrade from version 1.2.3.4 to 2.0.0.1 of the driver.",
    "Compute 1234567 * 7654321 and give the result in scientific notation.",
    "The meeting is on 2024-03-15 at 10:30, room 4B.",
    "Set password = input('Password: ') and hash it with bcrypt.",
    "max_tokens: 512\ntoken_type: bearer\ntemperature: 0.7",
    "Replace YOUR_API_KEY with your own key before running the script.",
    "Explain how the Great Wall of China was built.",
    "Compare Python and Rust for writing a web server.",
    "What is the capital of Australia, and why isn't it Sydney?",
    "Translate 'Good Morning' into French, Spanish and German.",
    "Write a SQL query: SELECT name, email FROM users WHERE id = 42;",
    "Configure Jenkins to deploy to Kubernetes every night.",
    "Order #20231225000001 shipped via DHL, tracking 1Z999AA10123456784.",
    "The ISBN is 978-3-16-148410-0; cite it in APA style.",
    "Pi to 15 digits is 3.141592653589793.",
    "Use the IPv6 loopback ::1 and 127.0.0.1 for local tests.",
    "请解释一下量子计算的基本原理。",
    "この文章を英語に翻訳してください。",
    "서울의 날씨는 어떤가요?",
    "Объясни, как работает блокчейн.",
    "Erkläre mir den Unterschied zwischen Wetter und Klima.",
    "Explique-moi la Révolution française en trois paragraphes.",
    "¿Cuál es la diferencia entre Madrid y Barcelona para vivir?",
    "Scrivi una ricetta per la Pasta alla Carbonara.",
    "Qual é a melhor forma de aprender Java?",
    "Summarize the plot of the Monday Night Football broadcast.",
    "Write a haiku about Autumn Leaves in Central Park.",
    "mat = np.random.rand(3, 3); print(mat @ mat.T)",
    "docker run -p 8080:80 -e MODE=prod nginx:1.25",
    "The password must be at least 12 characters long.",
    "Use a Bearer token in the Authorization header; never hard-code it.",
    "The SSN format is AAA-GG-SSSS; explain each part.",
    "Call the function with timeout=30 and retries=5.",
    "git config --global user.name 'Your Name'",
    "It costs $1,299.99 or 4 payments of 324.99.",
    "CREATE TABLE accounts (id SERIAL, password_hash TEXT NOT NULL);",
    "Dear Hiring Manager, I am applying for the Data Engineer role.",
]
_PUBLIC_FIGURES = [
    "Who was Albert Einstein and why is he famous?",
    "Write a story where Sherlock Holmes meets Harry Potter.",
    "Summarize Barack Obama's first inaugural address.",
    "What did Marie Curie discover?",
    "Compare Lionel Messi and Cristiano Ronaldo.",
    "Explain why Hamlet hesitates to kill Claudius.",
]


def _name(person: Person, language: str) -> tuple[str, str]:
    """A full name in the order the language writes it, and the given name."""
    first, last = person.first_name(), person.last_name()
    if language in ("zh", "ja"):
        return last + first, first
    if language == "ko":
        return last + first, first
    return f"{first} {last}", first


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(ch) for ch in body + check][::-1]
        if sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


def _card(payment: Payment, rng: random.Random) -> str:
    """Mimesis' 15- and 16-digit cards, and 12- and 19-digit Maestro/Visa numbers, printed in groups."""
    kind = rng.random()
    if kind < 0.6:
        return payment.credit_card_number()
    digits = _luhn_complete("6759", 12, rng) if kind < 0.8 else _luhn_complete("4", 19, rng)
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


_IBAN_FORMATS = {"DE": 18, "FR": 23, "ES": 20, "IT": 23, "GB": 18, "NL": 14, "PT": 21}


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_FORMATS))
    bban = "".join(rng.choice(string.digits) for _ in range(_IBAN_FORMATS[country]))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + bban[4:]
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _email(person: Person) -> str:
    while True:
        email = person.email()
        if "example." not in email:
            return email


def _fill(template: str, values: dict[str, tuple[str, str | None]]) -> tuple[str, list[tuple[str, int, int]]]:
    """The template with its slots filled, and the gold span of every slot whose entity is not None."""
    text, gold, position = "", [], 0
    while (start := template.find("{", position)) != -1:
        if template.startswith("{{", start):
            text += template[position : start + 1]
            position = start + 2
            continue
        end = template.index("}", start)
        text += template[position:start]
        value, entity = values[template[start + 1 : end]]
        if entity is not None:
            gold.append((entity, len(text), len(text) + len(value)))
        text += value
        position = end + 1
    return text + template[position:].replace("}}", "}"), gold


def _split_templates(templates: list, split: str, dev_only: list | tuple = ()) -> list:
    """Every other template for each split (dev first), and the dev-only templates for dev."""
    return templates[0::2] + list(dev_only) if split == "dev" else templates[1::2]


def heldout_cases(split: str, per_template: int = 6) -> list[HeldOutCase]:
    """Every category's cases for one split, `per_template` fillings of each template."""
    rng = random.Random(_SPLIT_SEEDS[split])
    seed = _SPLIT_SEEDS[split]
    cases: list[HeldOutCase] = []
    for language in LANGUAGES:
        person, address = Person(_LOCALES[language], seed=seed), Address(_LOCALES[language], seed=seed)
        payment, internet = Payment(seed=seed), Internet(seed=seed)
        for template in _split_templates(_NAME_TEMPLATES[language], split):
            for _ in range(per_template):
                (name, first), (name2, _) = _name(person, language), _name(person, language)
                text, gold = _fill(template, {"name": (name, "PERSON"), "first": (first, "PERSON"),
                                              "name2": (name2, "PERSON")})  # fmt: skip
                cases.append(HeldOutCase("names", language, text, gold))
        for template in _split_templates(_STRUCTURED_TEMPLATES[language], split, _DEV_STRUCTURED_TEMPLATES[language]):
            for _ in range(per_template):
                ip = internet.ip_v4() if rng.random() < 0.7 else internet.ip_v6()
                text, gold = _fill(template, {
                    "email": (_email(person), "EMAIL_ADDRESS"), "phone": (person.phone_number(), "PHONE_NUMBER"),
                    "card": (_card(payment, rng), "CREDIT_CARD"), "iban": (_iban(rng), "IBAN_CODE"),
                    "ip": (ip, "IP_ADDRESS"), "ssn": (_ssn(rng), "US_SSN")})  # fmt: skip
                cases.append(HeldOutCase("structured", language, text, gold))
        for template in _split_templates(_ADDRESS_TEMPLATES[language], split, _DEV_ADDRESS_TEMPLATES[language]):
            for _ in range(per_template):
                text, gold = _fill(template, {"address": (address.address(), "ADDRESS"),
                                              "city": (address.city(), None),
                                              "postal": (address.postal_code(), None)})  # fmt: skip
                cases.append(HeldOutCase("address", language, text, gold))
    crypto = Cryptographic(seed=seed)
    person = Person(Locale.EN, seed=seed)
    for kind, template in _split_templates(_SECRET_TEMPLATES, split, _DEV_SECRET_TEMPLATES):
        for _ in range(per_template):
            values = {
                "user": (person.username(), None),
                "host": (Internet(seed=rng.randint(0, 10**6)).hostname().split(".", 1)[-1], None),
                "pw": (person.password(length=rng.randint(8, 16)), "SECRET"),
                "hex": (crypto.token_hex(rng.choice((16, 24, 32))), "SECRET"),
                "tok": (crypto.token_urlsafe(rng.choice((24, 32, 40))), "SECRET"),
                "openai": ("sk-proj-" + crypto.token_urlsafe(60)[:64], "API_KEY"),
                "github": ("ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36)),
                           "API_KEY"),
                "aws": ("AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
                        "API_KEY"),
                "hf": ("hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34)), "API_KEY"),
                "pem": (_pem(rng), "PRIVATE_KEY"),
            }
            text, gold = _fill(template, values)
            cases.append(HeldOutCase(f"secret:{kind}", "code", text, gold))
    for text in _split_templates(_NEGATIVES, split, _DEV_NEGATIVES):
        cases.append(HeldOutCase("negative", "mixed", text))
    for text in _split_templates(_PUBLIC_FIGURES, split):
        cases.append(HeldOutCase("public", "en", text))
    return cases


def _pem(rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(48 * 6)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----"
