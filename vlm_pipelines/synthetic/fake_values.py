"""Realistic fake values in English and Russian: people, companies, addresses, dates, money, IDs.

Every function takes a ``random.Random`` so the caller's seed decides every value. Dates and month
names come from tables here, never from the system locale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from vlm_pipelines.transliteration import transliterate

LANGUAGES = ("en", "ru")

MONTHS_EN = ("January February March April May June July August September October November December").split()
MONTHS_RU_GENITIVE = (
    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
).split()

# Russian names avoid "ё" (commonly written "е" in documents, and kinder to OCR).
RU_SURNAMES = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Федоров Морозов Волков "
    "Алексеев Лебедев Семенов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин "
    "Захаров Зайцев Соловьев Борисов Яковлев Григорьев Романов Воробьев Сергеев Фролов Белов Тарасов "
    "Комаров Киселев Ильин Гусев Титов Кудрявцев Баранов Куликов Беляев Медведев Ершов Калинин"
).split()
RU_MALE_NAMES = (
    "Александр Сергей Дмитрий Андрей Алексей Максим Иван Михаил Николай Евгений Владимир Павел "
    "Игорь Олег Роман Виктор Юрий Константин Денис Антон"
).split()
RU_FEMALE_NAMES = (
    "Елена Ольга Наталья Татьяна Анна Мария Ирина Светлана Екатерина Юлия Анастасия Марина Дарья "
    "Ксения Виктория Людмила Галина Алина"
).split()
# father's name -> (male patronymic, female patronymic)
RU_PATRONYMICS = {
    "Александр": ("Александрович", "Александровна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Иван": ("Иванович", "Ивановна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Николай": ("Николаевич", "Николаевна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Павел": ("Павлович", "Павловна"),
    "Игорь": ("Игоревич", "Игоревна"),
    "Олег": ("Олегович", "Олеговна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Петр": ("Петрович", "Петровна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
}
RU_CITIES = (
    ("Москва", "77"),
    ("Санкт-Петербург", "78"),
    ("Новосибирск", "54"),
    ("Екатеринбург", "66"),
    ("Казань", "16"),
    ("Нижний Новгород", "52"),
    ("Челябинск", "74"),
    ("Самара", "63"),
    ("Омск", "55"),
    ("Ростов-на-Дону", "61"),
    ("Уфа", "02"),
    ("Красноярск", "24"),
    ("Воронеж", "36"),
    ("Пермь", "59"),
    ("Тверь", "69"),
    ("Тула", "71"),
    ("Ярославль", "76"),
)
RU_STREETS = (
    "ул. Ленина",
    "ул. Гагарина",
    "пр-т Мира",
    "ул. Советская",
    "ул. Садовая",
    "ул. Пушкина",
    "Октябрьский пр-т",
    "ул. Кирова",
    "ул. Молодежная",
    "ул. Лесная",
    "ул. Школьная",
    "ул. Набережная",
    "ул. Центральная",
    "ул. Московская",
    "ул. Чехова",
    "ул. Заводская",
)
RU_COMPANY_WORDS = (
    "Вектор",
    "Альфа-Строй",
    "ТехноСервис",
    "Северный ветер",
    "СтройИнвест",
    "Гранит",
    "Меридиан",
    "Новые технологии",
    "Восток-Логистик",
    "Интерторг",
    "Радуга",
    "Промснаб",
    "Энергия",
    "Сфера",
    "Горизонт",
    "БизнесКонсалт",
    "Фортуна",
    "Атлант",
    "Спектр",
    "Импульс",
    "Уралсервис",
    "Волга-Трейд",
)
RU_LEGAL_FORMS = (("ООО", 6), ("АО", 2), ("ПАО", 1))
RU_BANKS = ("ПАО Сбербанк", "Банк ВТБ (ПАО)", "АО «Альфа-Банк»", "АО «Т-Банк»", "ПАО «Промсвязьбанк»")

EN_FIRST_MALE = (
    "James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew Anthony "
    "Mark Steven Paul Andrew Kevin Brian George"
).split()
EN_FIRST_FEMALE = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Emily "
    "Michelle Laura Rachel Amanda Megan Olivia Grace"
).split()
EN_SURNAMES = (
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin "
    "Jackson Thompson White Harris Clark Lewis Walker Hall Allen Young King Wright Scott Green "
    "Baker Adams Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards Collins"
).split()
EN_CITIES = (
    ("Springfield", "IL"),
    ("Austin", "TX"),
    ("Portland", "OR"),
    ("Columbus", "OH"),
    ("Denver", "CO"),
    ("Madison", "WI"),
    ("Raleigh", "NC"),
    ("Tucson", "AZ"),
    ("Albany", "NY"),
    ("Boise", "ID"),
    ("Richmond", "VA"),
    ("Omaha", "NE"),
    ("Trenton", "NJ"),
    ("Salem", "MA"),
)
EN_STREETS = (
    "Maple",
    "Oak",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Walnut",
    "Sunset",
    "Highland",
    "Franklin",
    "Lincoln",
    "Church",
)
EN_STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln")
EN_COMPANY_WORDS = (
    "Northwind",
    "Blue Ridge",
    "Summit",
    "Pioneer",
    "Crescent",
    "Evergreen",
    "Ironwood",
    "Harbor",
    "Redwood",
    "Silverline",
    "Oakmont",
    "Lakeside",
    "Brightpath",
    "Granite",
    "Keystone",
    "Riverbend",
)
EN_COMPANY_KINDS = (
    "Traders",
    "Supply",
    "Logistics",
    "Office Solutions",
    "Technologies",
    "Consulting",
    "Industrial",
    "Foods",
    "Systems",
    "Partners",
)
EN_COMPANY_SUFFIXES = ("LLC", "Inc.", "Co.", "Ltd.", "Corp.")

POSITIONS = {
    "en": (
        "Accountant",
        "Sales Manager",
        "Software Engineer",
        "HR Specialist",
        "Delivery Driver",
        "Warehouse Clerk",
        "Legal Counsel",
        "Financial Analyst",
        "Office Administrator",
        "Process Engineer",
        "Support Specialist",
        "Graphic Designer",
    ),
    "ru": (
        "Бухгалтер",
        "Менеджер по продажам",
        "Инженер-программист",
        "Специалист по кадрам",
        "Водитель-экспедитор",
        "Кладовщик",
        "Юрисконсульт",
        "Экономист",
        "Офис-менеджер",
        "Инженер-технолог",
        "Специалист поддержки",
        "Дизайнер",
    ),
}
DEPARTMENTS = {
    "en": (
        "Finance",
        "Sales",
        "IT Department",
        "Human Resources",
        "Logistics",
        "Warehouse",
        "Legal",
        "Production",
        "Administration",
        "Customer Support",
    ),
    "ru": (
        "Бухгалтерия",
        "Отдел продаж",
        "ИТ-отдел",
        "Отдел кадров",
        "Отдел логистики",
        "Склад",
        "Юридический отдел",
        "Производственный цех",
        "Администрация",
        "Служба поддержки",
    ),
}
# (description, unit, price range in whole currency units)
GOODS = {
    "en": (
        ("A4 copy paper, 500 sheets", "box", (25, 60)),
        ("Toner cartridge HP 85A", "pc", (60, 140)),
        ("Delivery service", "svc", (40, 250)),
        ("Equipment installation", "svc", (150, 900)),
        ("Consulting services", "hr", (90, 220)),
        ("Power cable 3x2.5 mm, 100 ft", "roll", (70, 160)),
        ("Laptop Lenovo ThinkPad E14", "pc", (700, 1400)),
        ("Ergonomic office chair", "pc", (150, 450)),
        ("Ballpoint pens, blue", "box", (5, 18)),
        ("Lever arch file", "pc", (3, 9)),
        ("Software license, annual", "pc", (200, 1200)),
        ("Printer maintenance", "svc", (80, 300)),
        ("Exterior paint, 5 gal", "pail", (90, 260)),
        ("Portland cement, 94 lb", "bag", (12, 25)),
        ("LED panel light 2x4 ft", "pc", (45, 120)),
        ("Network switch, 24 ports", "pc", (180, 650)),
    ),
    "ru": (
        ("Бумага офисная А4, 500 л.", "уп.", (300, 650)),
        ("Картридж для принтера HP 85A", "шт.", (1500, 6500)),
        ("Услуги по доставке", "усл.", (500, 4500)),
        ("Монтаж оборудования", "усл.", (3000, 45000)),
        ("Консультационные услуги", "ч", (1500, 6000)),
        ("Кабель ВВГнг 3х2,5, 100 м", "бухта", (4500, 9800)),
        ("Ноутбук Lenovo ThinkPad E14", "шт.", (65000, 120000)),
        ("Кресло офисное", "шт.", (6500, 28000)),
        ("Ручка шариковая синяя", "уп.", (150, 600)),
        ("Папка-регистратор 75 мм", "шт.", (150, 450)),
        ("Лицензия на ПО, 1 год", "шт.", (8000, 95000)),
        ("Техническое обслуживание", "усл.", (2500, 18000)),
        ("Краска фасадная 10 л", "шт.", (3500, 9500)),
        ("Цемент М500, 50 кг", "меш.", (450, 750)),
        ("Светильник светодиодный", "шт.", (900, 3800)),
        ("Коммутатор сетевой 24 порта", "шт.", (9000, 48000)),
    ),
}
# (item, price range in cents / kopecks)
GROCERIES = {
    "en": (
        ("Whole milk 1 gal", (329, 549)),
        ("Sourdough bread", (299, 649)),
        ("Cheddar cheese 8 oz", (279, 599)),
        ("Large eggs, dozen", (249, 699)),
        ("Unsalted butter 1 lb", (399, 699)),
        ("Ground coffee 12 oz", (699, 1299)),
        ("Black tea, 100 bags", (399, 899)),
        ("Gala apples 3 lb", (399, 699)),
        ("Bananas 2 lb", (99, 199)),
        ("Sparkling water 1 L", (99, 249)),
        ("Brown rice 2 lb", (249, 499)),
        ("Granulated sugar 4 lb", (299, 549)),
        ("Chicken breast 1 lb", (399, 899)),
        ("Milk chocolate bar", (149, 399)),
        ("Greek yogurt 32 oz", (449, 799)),
        ("Orange juice 52 oz", (349, 649)),
    ),
    "ru": (
        ("Молоко 3,2% 1 л", (7990, 12990)),
        ("Хлеб Бородинский", (4590, 8990)),
        ("Сыр Российский 200 г", (17990, 32990)),
        ("Яйца С1, 10 шт.", (9990, 15990)),
        ("Масло сливочное 82,5%", (18990, 29990)),
        ("Кофе молотый 250 г", (34990, 69990)),
        ("Чай черный, 100 пак.", (19990, 39990)),
        ("Яблоки Гала, 1 кг", (12990, 21990)),
        ("Бананы, 1 кг", (9990, 15990)),
        ("Вода минеральная 1,5 л", (5990, 11990)),
        ("Крупа гречневая 900 г", (8990, 14990)),
        ("Сахар-песок 1 кг", (7990, 11990)),
        ("Филе куриное, 1 кг", (34990, 54990)),
        ("Шоколад молочный 90 г", (8990, 15990)),
        ("Кефир 2,5% 930 мл", (8990, 12990)),
        ("Сок апельсиновый 1 л", (12990, 19990)),
    ),
}
STORE_WORDS = {
    "en": ("Green Valley Market", "Corner Grocery", "Fresh Basket", "Daily Foods", "Harvest Table"),
    "ru": ("Продукты у дома", "Семейный", "Свежий хлеб", "Магнолия", "Продмаркет", "Лавка у реки"),
}
PAYMENT_METHODS = {
    "en": ("Cash", "Credit card", "Debit card", "Mobile payment"),
    "ru": ("Наличными", "Безналичными", "Банковской картой", "СБП"),
}


@dataclass(frozen=True)
class Person:
    full_name: str  # "Иванов Сергей Петрович" / "John A. Smith"
    short_name: str  # "Иванов С. П." / "J. Smith"
    surname: str
    is_female: bool
    email: str


@dataclass(frozen=True)
class Company:
    name: str  # "ООО «Вектор»" / "Northwind Traders LLC"
    core_name: str  # "Вектор" / "Northwind Traders"
    tax_id: str
    address: str
    city: str


def person(rng: random.Random, language: str) -> Person:
    is_female = rng.random() < 0.5
    if language == "ru":
        surname = rng.choice(RU_SURNAMES) + ("а" if is_female else "")
        first = rng.choice(RU_FEMALE_NAMES if is_female else RU_MALE_NAMES)
        patronymic = rng.choice(list(RU_PATRONYMICS.values()))[1 if is_female else 0]
        local = f"{transliterate(first)[0]}.{transliterate(surname)}"
        domain = rng.choice(("mail.ru", "yandex.ru", "gmail.com", "bk.ru"))
        return Person(
            full_name=f"{surname} {first} {patronymic}",
            short_name=f"{surname} {first[0]}. {patronymic[0]}.",
            surname=surname,
            is_female=is_female,
            email=f"{local}@{domain}",
        )
    first = rng.choice(EN_FIRST_FEMALE if is_female else EN_FIRST_MALE)
    surname = rng.choice(EN_SURNAMES)
    middle = rng.choice("ABCDEFGHJKLMNPRSTW")
    domain = rng.choice(("gmail.com", "outlook.com", "yahoo.com", "mail.com"))
    return Person(
        full_name=f"{first} {middle}. {surname}",
        short_name=f"{first[0]}. {surname}",
        surname=surname,
        is_female=is_female,
        email=f"{first.lower()}.{surname.lower()}@{domain}",
    )


def address(rng: random.Random, language: str, *, office: bool = False, with_postcode: bool = True) -> str:
    if language == "ru":
        city, _ = rng.choice(RU_CITIES)
        parts = [f"г. {city}", rng.choice(RU_STREETS), f"д. {rng.randint(1, 150)}"]
        if with_postcode:
            parts.insert(0, f"{rng.randint(101, 690)}{rng.randint(0, 999):03d}")
        if rng.random() < 0.7:
            parts.append(f"{'оф.' if office else 'кв.'} {rng.randint(1, 350)}")
        return ", ".join(parts)
    city, state = rng.choice(EN_CITIES)
    street = f"{rng.randint(10, 9899)} {rng.choice(EN_STREETS)} {rng.choice(EN_STREET_SUFFIXES)}"
    if office and rng.random() < 0.5:
        street += f", Suite {rng.randint(100, 950)}"
    return f"{street}, {city}, {state} {rng.randint(10000, 99899):05d}"


def inn_legal_entity(rng: random.Random, region: str = "77") -> str:
    """A 10-digit Russian INN of a company, with a valid check digit."""
    digits = [int(c) for c in region] + [rng.randint(0, 9) for _ in range(7)]
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    digits.append(sum(w * d for w, d in zip(weights, digits, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


def ein(rng: random.Random) -> str:
    """A US Employer Identification Number, e.g. "27-4418309"."""
    return f"{rng.randint(10, 98):02d}-{rng.randint(1000000, 9999999)}"


def company(rng: random.Random, language: str) -> Company:
    if language == "ru":
        forms, weights = zip(*RU_LEGAL_FORMS, strict=True)
        legal_form = rng.choices(forms, weights=weights)[0]
        core = rng.choice(RU_COMPANY_WORDS)
        city, region = rng.choice(RU_CITIES)
        street = rng.choice(RU_STREETS)
        postcode = f"{rng.randint(101, 690)}{rng.randint(0, 999):03d}"
        office = f", оф. {rng.randint(1, 420)}" if rng.random() < 0.6 else ""
        addr = f"{postcode}, г. {city}, {street}, д. {rng.randint(1, 150)}{office}"
        return Company(f"{legal_form} «{core}»", core, inn_legal_entity(rng, region), addr, city)
    core = f"{rng.choice(EN_COMPANY_WORDS)} {rng.choice(EN_COMPANY_KINDS)}"
    name = f"{core} {rng.choice(EN_COMPANY_SUFFIXES)}"
    addr = address(rng, "en", office=True)
    return Company(name, core, ein(rng), addr, addr.split(", ")[-2])


def random_date(rng: random.Random, start: date, end: date) -> date:
    return date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))


DATE_STYLES = {"en": ("long", "us", "day_month"), "ru": ("dotted", "dotted", "long")}


def format_date(value: date, language: str, style: str) -> str:
    if language == "ru":
        if style == "long":
            return f"{value.day} {MONTHS_RU_GENITIVE[value.month - 1]} {value.year} г."
        return f"{value.day:02d}.{value.month:02d}.{value.year}"
    month = MONTHS_EN[value.month - 1]
    if style == "long":
        return f"{month} {value.day}, {value.year}"
    if style == "day_month":
        return f"{value.day:02d} {month[:3]} {value.year}"
    return f"{value.month:02d}/{value.day:02d}/{value.year}"


def date_answers(value: date, language: str, printed: str) -> list[str]:
    """The printed date first, then other common spellings of the same day."""
    styles = ("dotted", "long") if language == "ru" else ("long", "us", "day_month")
    spellings = [format_date(value, language, style) for style in styles] + [value.isoformat()]
    return [printed] + [text for text in dict.fromkeys(spellings) if text != printed]


def format_money(cents: int, language: str) -> str:
    """12345.67 -> "12,345.67" (en) or "12 345,67" (ru)."""
    units, rest = divmod(cents, 100)
    grouped = f"{units:,}"
    if language == "ru":
        return f"{grouped.replace(',', ' ')},{rest:02d}"
    return f"{grouped}.{rest:02d}"


def money_answers(cents: int, language: str) -> list[str]:
    """The printed amount first, then the same amount with a currency sign / plain decimals."""
    printed = format_money(cents, language)
    plain = f"{cents // 100}.{cents % 100:02d}"
    if language == "ru":
        others = [f"{printed} руб.", f"{cents // 100},{cents % 100:02d}", plain]
    else:
        others = [f"${printed}", plain]
    return list(dict.fromkeys([printed, *others]))


def phone(rng: random.Random, language: str) -> str:
    if language == "ru":
        code = rng.choice((495, 499, 812, 903, 905, 912, 916, 921, 926, 950, 977, 985))
        return f"+7 ({code}) {rng.randint(200, 999)}-{rng.randint(0, 99):02d}-{rng.randint(0, 99):02d}"
    return f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{rng.randint(0, 9999):04d}"


def passport_number(rng: random.Random, language: str) -> str:
    if language == "ru":
        return f"{rng.randint(1, 99):02d} {rng.randint(0, 24):02d} {rng.randint(100000, 999999)}"
    return f"{rng.randint(100000000, 999999999)}"


def bank_account(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(str(rng.randint(0, 9)) for _ in range(20 - len(prefix)))
