"""Proposed classification of catalog columns: level, personal-information flag and role.

Owns recognising what a column holds, from its name (Chinese, English, and the pinyin initials
common in government schemas such as ``sfzh`` or ``xm``) and from a sample of its values, and
turning that into a ``ColumnProposal``. It must not read data itself, store anything, or have the
last word: a data steward confirms or edits every proposal in the catalog. Reasons never quote
values. Deterministic and fast: at most ``SAMPLE_LIMIT`` values per column are looked at.

Levels, after the general / important / core grading of GB/T 43697-2024 (which grades general
data further by the harm a leak does; the three lower levels follow that):

- ``public``: general data that can be published (calendar periods, administrative divisions).
- ``internal``: general data for use inside government; the default for anything unrecognised.
- ``sensitive``: general data whose leak harms a person or an organisation: personal information
  that identifies someone (name, phone, address, full birth date) and the personal sensitive
  information of PIPL art. 28 (health, income and financial accounts, religion, criminal records).
- ``core``: data GB/T 43697 would grade important or core: its leak harms the public interest.

The resident ID number is the one column proposed ``core``. It is the national key linking a
person across every register (public security, social security, health, tax), it cannot be
changed after a leak, and it carries birth date, sex and birthplace in clear. A county hub holds
it for a large share of the county's population, and GB/T 43697 counts personal information at
that scale among what makes data important; a column grade has to assume that worst use, since
the classifier does not see the row count. The lab should pseudonymise it into an entity key
rather than grant it. USCCs are public registration numbers of firms: ``internal``, not personal.

Roles: ``identifier`` (direct identifier of a person or firm: ID number, name, phone, full
address), ``quasi_identifier`` (identifies in combination: birth date, sex, age, township),
``entity_key`` (the unit whose privacy is protected: person id, household id, enterprise code),
``measure`` (an attribute observed about the unit, the target of attribute disclosure: numeric
columns, and health or income even when coded as text) and ``dimension`` (codes, categories,
periods, record keys). ``personal`` is PIPL's "relates to an identified or identifiable person":
true for persons' identifiers, keys and attributes; false for places and firms on their own.

Value evidence counts only when at least ``VALUE_SHARE`` of the non-null sampled values match
(and at least ``MIN_MATCHES`` of them). It outranks the column name for the kind of column; the
level is then the higher of the two and ``personal`` is true if either says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from countyos.catalog.identifiers import is_mobile, is_resident_id, is_uscc
from countyos.errors import InvalidInputError

LEVELS = ("public", "internal", "sensitive", "core")
ROLES = ("identifier", "quasi_identifier", "entity_key", "measure", "dimension")
SAMPLE_LIMIT = 1000
VALUE_SHARE = 0.8
MIN_MATCHES = 3
PARTIAL_SHARE = 0.2  # below VALUE_SHARE but worth a note for the steward

# The most common Chinese surnames (about the top 250; the top 100 alone cover only some 85% of
# residents, too close to the 80% share needed), then compound surnames.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
    "覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符"
    "舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司"
    "卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙"
    "荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 南宫 西门 独孤 "
    "申屠 闻人 澹台 公冶 钟离 呼延 万俟 太史 赫连 拓跋 百里".split()
)
# Characters common in given names: at least half the matching values must contain one, which
# keeps product or place names that happen to start with a surname character out.
GIVEN_NAME_CHARS = frozenset(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红鹏飞辉建国林宇浩婷雪梅琳晨晶颖玲丹凤云燕"
    "文斌波宁鑫欣怡佳琪子涵轩博然睿泽昊航晗萱悦彤思雨梓嘉俊峰亮志海成东春秋冬夏荣生福祥德才庆宝龙凯健"
    "坤鸿新翠珍兵毅帅虎彬力江河山松青阳光小少永金锦清淑惠慧贤美爱琴月露蓉莉莹倩茜薇蕾菲芬菊香珠瑞安乐"
    "宏伦世振兴长立正和义忠信仁良善贵富友顺发旺利昌盛茂天星晓辰一梦可若依语诗欢馨妍瑶璐钰琦璇媛婉姗蓓"
    "雅冰洁凡帆远达恒哲武鹤腾耀朝家庭民树根桃花彩娥芝莲亚晴琛翔宸铭皓奕逸楠豪杭晖炜俊军斌凯康佩秀雯"
)
_NOT_NAME_ENDINGS = frozenset("省市县区镇乡村路街巷道号室弄厂店司局所院站馆园场队组部科处校会社团")
_CJK_NAME_RE = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_ADDRESS_MARKERS = ("省", "市", "县", "区", "街道", "镇", "乡", "村", "社区", "路", "街", "巷", "弄",
                    "号", "室", "栋", "幢", "单元", "小区", "组")
_HOUSE_NUMBER_RE = re.compile(r"\d+\s*(?:号|弄|室|栋|幢|单元|楼|组)")
_TOWNSHIP_RE = re.compile(r"^[\u4e00-\u9fff]{1,10}(?:镇|乡|街道)$")
_VILLAGE_RE = re.compile(r"^[\u4e00-\u9fff]{1,10}(?:村|社区|居委会|村委会)$")
_LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PLATE_RE = re.compile(r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][A-Z0-9]{5,6}$")
_SEX_VALUES = frozenset({"男", "女", "男性", "女性", "m", "f", "male", "female"})
_NULL_MARKERS = frozenset({"", "null", "none", "nan", "n/a", "na", "-", "--", "—", "/", "\\n"})
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class ColumnProposal:
    """A proposed classification of one column, for a steward to confirm.

    Attributes:
        level: One of ``LEVELS``.
        role: One of ``ROLES``.
        personal: Whether the column is personal information.
        detected: What was recognised (``"resident_id"``, ``"mobile"``, ``"uscc"``,
            ``"person_name"``, ``"address"``, ``"sex"``, ``"income"``, ...), or ``None``.
        reasons: Human-readable English reasons; they never quote values.
    """

    level: str
    role: str
    personal: bool
    detected: str | None
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InvalidInputError(f"level must be one of {', '.join(LEVELS)}")
        if self.role not in ROLES:
            raise InvalidInputError(f"role must be one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class _Kind:
    detected: str | None
    role: str
    level: str
    personal: bool
    label: str  # plural noun phrase used in reasons


def _k(detected: str | None, role: str, level: str, personal: bool, label: str) -> _Kind:
    return _Kind(detected, role, level, personal, label)


_ID, _QI, _KEY, _MEAS, _DIM = ROLES[0], ROLES[1], ROLES[2], ROLES[3], ROLES[4]
KINDS: dict[str, _Kind] = {
    "resident_id": _k("resident_id", _ID, "core", True, "resident ID numbers"),
    "uscc": _k("uscc", _KEY, "internal", False, "unified social credit codes of firms"),
    "id_document": _k("id_document", _ID, "sensitive", True, "passport or licence numbers"),
    "card_number": _k("card_number", _ID, "sensitive", True, "bank or social security card numbers"),
    "mobile": _k("mobile", _ID, "sensitive", True, "mobile numbers"),
    "phone": _k("phone", _ID, "sensitive", True, "telephone numbers"),
    "email": _k("email", _ID, "sensitive", True, "e-mail addresses"),
    "license_plate": _k("license_plate", _ID, "sensitive", True, "vehicle licence plates"),
    "person_name": _k("person_name", _ID, "sensitive", True, "personal names"),
    "enterprise_name": _k("enterprise_name", _ID, "internal", False, "names of firms or units"),
    "address": _k("address", _ID, "sensitive", True, "postal addresses"),
    "enterprise_address": _k("address", _ID, "internal", False, "addresses of firms or units"),
    "birthplace": _k("birthplace", _QI, "internal", True, "birthplaces or native places"),
    "birth_date": _k("birth_date", _QI, "sensitive", True, "birth dates"),
    "person_id": _k("person_id", _KEY, "internal", True, "keys of persons"),
    "household_id": _k("household_id", _KEY, "internal", True, "keys of households"),
    "enterprise_id": _k("enterprise_id", _KEY, "internal", False, "keys of firms or units"),
    "health": _k("health", _MEAS, "sensitive", True, "health information"),
    "criminal_record": _k("criminal_record", _MEAS, "sensitive", True, "criminal records"),
    "aggregate": _k(None, _MEAS, "internal", False, "business or aggregate figures"),
    "income": _k("income", _MEAS, "sensitive", True, "income or welfare of persons"),
    "religion": _k("religion", _QI, "sensitive", True, "religious beliefs"),
    "ethnicity": _k("ethnicity", _QI, "internal", True, "ethnic groups or nationalities"),
    "sex": _k("sex", _QI, "internal", True, "sex values"),
    "age": _k("age", _QI, "internal", True, "ages"),
    "marital_status": _k("marital_status", _QI, "internal", True, "marital statuses"),
    "education": _k("education", _QI, "internal", True, "education levels"),
    "occupation": _k("occupation", _QI, "internal", True, "occupations"),
    "geo_location": _k("geo_location", _QI, "internal", False, "geographic coordinates"),
    "postcode": _k("postcode", _QI, "internal", False, "postcodes"),
    "township": _k("township", _QI, "internal", False, "township or subdistrict names"),
    "village": _k("village", _QI, "internal", False, "village or community names"),
    "admin_division": _k(None, _DIM, "public", False, "administrative divisions"),
    "time_period": _k(None, _DIM, "public", False, "calendar periods"),
    "date_time": _k(None, _DIM, "internal", False, "dates or times"),
    "free_text": _k(None, _DIM, "internal", False, "free text (review it for personal data)"),
    "category": _k(None, _DIM, "internal", False, "codes or categories"),
    "thing_name": _k(None, _DIM, "internal", False, "names of things"),
    "record_id": _k(None, _DIM, "internal", False, "record keys"),
    "amount": _k(None, _MEAS, "internal", False, "amounts, prices or quantities"),
}

# Name rules, first match wins: (kind, Chinese substrings, English/pinyin token phrases).
# An English phrase matches consecutive name tokens or their concatenation ("birth date" also
# matches "birthdate"); "*" rules are handled by code in _match_name.
_RULES_TEXT = """
resident_id | 身份证 身份号码 证件号 公民身份 社会保障号 社保号 | \
    id number, id no, id num, id card, identity card, identity number, national id, citizen id, \
    sfz, sfzh, sfzhm, zjhm, gmsfhm, shbzh
uscc | 统一社会信用代码 社会信用代码 信用代码 纳税人识别号 | uscc, credit code, taxpayer id, tyshxydm, xydm
id_document | 护照 驾驶证 驾照 军官证 通行证 | passport, driver license, driving licence, driving license
card_number | 银行卡 卡号 银行账号 账号 | bank card, card number, card no, account number, account no, iban
mobile | 手机 移动电话 | mobile, cellphone, cell phone, sjh, sjhm
phone | 电话 联系方式 座机 固话 传真 | phone, telephone, tel, fax, lxdh, lxfs
email | 邮箱 电子邮件 | email, e mail, mail
license_plate | 车牌 号牌 | license plate, licence plate, plate number, plate no, cph
birthplace | 出生地 籍贯 | birthplace, birth place, native place, place of birth, hometown
birth_date | 出生 生日 | birth, birthday, dob, date of birth, csrq
address | 地址 住址 住所 居住地 户籍地 所在地 现住 门牌 | \
    address, addr, residence, domicile, house number, dz, zz, jtzz, hjdz, xzz
* person_name
* enterprise_name
person_id | 人员编号 人员编码 人员id 个人编号 个人编码 个人id 居民编号 患者编号 参保人编号 人员标识 | \
    person id, person no, person key, individual id, resident id, resident no, patient id, \
    user id, customer id, member id, employee id, staff id, rybh, grbh
household_id | 户号 户编号 户籍编号 家庭编号 | household id, household no, household key, hh id, family id, hh
enterprise_id | 企业编号 企业编码 企业id 企业代码 单位编号 单位编码 单位代码 组织机构代码 公司编号 | \
    enterprise id, company id, firm id, org id, organization id, organisation id, employer id, \
    corp id, enterprise no, company no, enterprise code, company code, org code
health | 诊断 疾病 病种 病史 病情 症状 残疾 传染病 体检 血压 血糖 医保 医疗 住院 门诊 处方 用药 健康 就诊 病历 | \
    diagnosis, diagnoses, disease, illness, symptom, disability, medical, health, icd, hiv, \
    prescription, treatment, clinical, blood pressure, blood sugar
criminal_record | 犯罪 刑事 前科 违法 服刑 吸毒 | criminal, conviction, offence, offense, crime
aggregate | 营业 主营 销售 利润 产值 税收 纳税 营收 人均 平均 | \
    revenue, sales, turnover, profit, operating, tax, per capita, average, avg, mean, median, \
    gdp
income | 工资 薪资 薪酬 薪水 收入 缴费基数 养老金 退休金 公积金 存款 奖金 低保 救助 津贴 | \
    salary, wage, wages, income, earnings, pension, contribution base, bonus, deposit, \
    allowance, welfare, payroll, jfjs
religion | 宗教 信仰 | religion, faith
ethnicity | 民族 国籍 | ethnicity, ethnic, nationality
sex | 性别 | sex, gender, xb
age | 年龄 | age, age group, nl
marital_status | 婚姻 婚否 | marital, marriage
education | 学历 文化程度 教育程度 学位 | education, degree
occupation | 职业 工种 | occupation, profession, job
geo_location | 经度 纬度 坐标 定位 | latitude, longitude, lat, lng, lon, coordinate, coordinates, gps
postcode | 邮编 邮政编码 | postcode, postal code, zip, zipcode
township | 乡镇 街道 镇街 所属镇 | township, town, subdistrict
village | 村 社区 居委会 | village, community
admin_division | 行政区划 区划 区县 | region code, division code, admin code, district, county
time_period | 年份 年度 月份 季度 统计期 报告期 | year, month, quarter, period
date_time | 日期 时间 时刻 | date, time, timestamp, datetime, created at, updated at
free_text | 备注 说明 描述 内容 意见 摘要 | remark, remarks, note, notes, comment, comments, description, memo, text
category | 代码 编码 类型 类别 分类 状态 标志 等级 级别 行业 | code, type, category, class, status, flag, level, grade, kind, industry, sector
thing_name | 名称 名字 | name
record_id | 编号 序号 流水号 单号 | id, no, uuid, key, seq, serial, number
amount | 金额 费用 价格 单价 成本 数量 | amount, cost, price, fee, quantity, qty, value
"""

_PERSON_NAME_ZH = ("姓名", "人名", "联系人", "法定代表人", "法人代表", "户主", "负责人", "申请人",
                   "经办人", "监护人", "配偶")
_PERSON_QUALIFIERS = frozenset(
    "person personal full real first last given family patient resident citizen applicant contact "
    "owner householder head legal representative employee staff worker member user customer student "
    "teacher doctor villager insured holder spouse father mother guardian child elder".split()
)
_PERSON_ALONE = (("contact",), ("householder",), ("legal", "representative"), ("legal", "person"),
                 ("guardian",), ("spouse",), ("applicant",), ("surname",), ("fullname",),
                 ("realname",), ("xm",))
_ENTERPRISE_ZH = ("企业", "单位", "公司", "机构", "商户", "厂", "注册")
_ENTERPRISE_WORDS = frozenset(
    "enterprise company firm corp corporate corporation business employer org organization "
    "organisation shop store merchant registered office unit".split()
)
_ENTERPRISE_NAME_ZH = ("企业名称", "单位名称", "公司名称", "机构名称", "商户名称", "纳税人名称",
                       "企业名", "单位名")
# A numeric column with one of these words is a count or rate, not an attribute of one person.
_COUNT_WORDS_ZH = ("人数", "户数", "次数", "个数", "总数", "件数", "家数", "数量", "人次", "率", "比例", "占比", "人口")
_COUNT_WORDS_EN = frozenset(
    "count counts number num cnt rate rates ratio pct percent percentage share population headcount".split()
)
_COUNT_SKIPPED_ROLES = frozenset({_QI, _MEAS})


def _parse_rules(text: str) -> list[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]]:
    rules = []
    for line in text.strip().splitlines():
        if line.startswith("*"):
            rules.append((line[1:].strip(), (), ()))
            continue
        kind, zh, en = (part.strip() for part in line.split("|"))
        rules.append((kind, tuple(zh.split()), tuple(tuple(p.split()) for p in en.split(", "))))
    return rules


_RULES = _parse_rules(_RULES_TEXT)


def _name_tokens(name: str) -> list[str]:
    """Lower-cased Latin tokens of a column name, split at snake_case, camelCase and digits."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return [p.lower() for p in parts]


def _has_phrase(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    if len(phrase) == 1:
        return phrase[0] in tokens
    if "".join(phrase) in tokens:
        return True
    n = len(phrase)
    return any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1))


def _is_enterprise(zh: str, tokens: list[str]) -> bool:
    return any(word in zh for word in _ENTERPRISE_ZH) or bool(_ENTERPRISE_WORDS.intersection(tokens))


def _special_rule(kind: str, zh: str, tokens: list[str]) -> tuple[bool, bool]:
    """(matched, ambiguous) for the rules decided by code rather than word lists."""
    if kind == "person_name":
        if any(word in zh for word in _PERSON_NAME_ZH) or any(_has_phrase(tokens, p) for p in _PERSON_ALONE):
            return True, tokens == ["xm"]
        if "name" in tokens:
            others = [t for t in tokens if t != "name"]
            return (not others or bool(_PERSON_QUALIFIERS.intersection(others))), not others
        return False, False
    if any(word in zh for word in _ENTERPRISE_NAME_ZH):
        return True, False
    return "name" in tokens and bool(_ENTERPRISE_WORDS.intersection(tokens)), False


def _match_name(name: str, numeric: bool) -> tuple[str | None, bool]:
    """The kind the column name suggests, and whether that guess is ambiguous."""
    zh, tokens = name.lower(), _name_tokens(name)
    counts = numeric and (any(w in zh for w in _COUNT_WORDS_ZH) or bool(_COUNT_WORDS_EN.intersection(tokens)))
    for kind, zh_words, phrases in _RULES:
        if counts and KINDS[kind].role in _COUNT_SKIPPED_ROLES and KINDS[kind].detected is not None:
            continue  # e.g. 男性人数 or birth_rate: a count or rate, not a person's attribute
        if not zh_words and not phrases:
            matched, ambiguous = _special_rule(kind, zh, tokens)
            if matched:
                return kind, ambiguous
            continue
        if any(word in zh for word in zh_words) or any(_has_phrase(tokens, p) for p in phrases):
            if kind == "address" and _is_enterprise(zh, tokens):
                return "enterprise_address", False
            return kind, False
    return None, False


# -- value evidence -------------------------------------------------------------------------


def _is_null(value: object) -> bool:
    if value is None:
        return True
    try:
        if value != value:  # NaN, NaT
            return True
    except (TypeError, ValueError):  # pandas.NA refuses to be compared
        return True
    return isinstance(value, str) and value.strip().lower() in _NULL_MARKERS


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip()  # full-width digits and letters
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _is_person_name(text: str) -> bool:
    if not _CJK_NAME_RE.match(text) or text[-1] in _NOT_NAME_ENDINGS:
        return False
    if len(text) >= 3 and text[:2] in COMPOUND_SURNAMES:
        return True
    return text[0] in SURNAMES


def _has_given_name_char(text: str) -> bool:
    given = text[2:] if len(text) >= 3 and text[:2] in COMPOUND_SURNAMES else text[1:]
    return any(ch in GIVEN_NAME_CHARS for ch in given)


def _is_address(text: str) -> bool:
    if len(text) < 6 or not re.search(r"[\u4e00-\u9fff]", text):
        return False
    if _HOUSE_NUMBER_RE.search(text) and any(m in text for m in _ADDRESS_MARKERS):
        return True
    return sum(1 for m in _ADDRESS_MARKERS if m in text) >= 3


def _is_mobile_text(text: str) -> bool:
    compact = re.sub(r"[\s-]", "", text)
    if compact.startswith("+86"):
        compact = compact[3:]
    elif compact.startswith("0086"):
        compact = compact[4:]
    return is_mobile(compact)


_DETECTORS = (  # order breaks ties between equal shares
    ("resident_id", "resident ID numbers with valid check digits", is_resident_id),
    ("uscc", "unified social credit codes with valid check characters", is_uscc),
    ("mobile", "mainland mobile numbers", _is_mobile_text),
    ("phone", "landline numbers with an area code", lambda t: bool(_LANDLINE_RE.match(t))),
    ("email", "e-mail addresses", lambda t: bool(_EMAIL_RE.match(t))),
    ("license_plate", "vehicle licence plates",
     lambda t: bool(_PLATE_RE.match(t.replace("·", "").replace(" ", "").upper()))),
    ("sex", "sex values", lambda t: t.lower() in _SEX_VALUES),
    ("township", "township or subdistrict names", lambda t: bool(_TOWNSHIP_RE.match(t))),
    ("village", "village or community names", lambda t: bool(_VILLAGE_RE.match(t))),
    ("address", "postal addresses", _is_address),
    ("person_name", "Chinese personal names (common surname, 2-4 characters)", _is_person_name),
)
_FORMAT_CHECKED = frozenset({"resident_id", "uscc", "mobile", "email", "license_plate"})


@dataclass(frozen=True)
class _Evidence:
    kind: str
    label: str
    matches: int
    share: float


def _value_evidence(texts: list[str], non_null: int) -> list[_Evidence]:
    """Share of non-null values matching each detector, best first, zero shares left out."""
    found = []
    for kind, label, check in _DETECTORS:
        hits = [t for t in texts if check(t)]
        if kind == "person_name" and hits:
            named = sum(1 for t in hits if _has_given_name_char(t))
            diverse = len(hits) < 50 or len(set(hits)) >= 0.1 * len(hits)
            if named < 0.5 * len(hits) or not diverse:
                continue  # product or place names starting with a surname character
        if hits:
            found.append(_Evidence(kind, label, len(hits), len(hits) / non_null))
    return sorted(found, key=lambda e: -e.share)  # stable: detector order breaks ties


def _percent(share: float) -> str:
    return f"{int(share * 100)}%"


def _sampled(sample: Sequence[object] | pa.Array | pa.ChunkedArray | None) -> list[object]:
    if sample is None:
        return []
    count = len(sample)
    indices = range(count) if count <= SAMPLE_LIMIT else [i * count // SAMPLE_LIMIT for i in range(SAMPLE_LIMIT)]
    if isinstance(sample, (pa.Array, pa.ChunkedArray)):
        chosen = sample if count <= SAMPLE_LIMIT else sample.take(pa.array(list(indices), pa.int64()))
        return chosen.to_pylist()
    return [sample[i] for i in indices]


def _fallback_kind(data_type: pa.DataType, texts: list[str], non_null: int) -> tuple[_Kind, str]:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return _k(None, _MEAS, "internal", False, ""), "numeric type: proposed as a measure"
    if pa.types.is_boolean(data_type) or pa.types.is_temporal(data_type):
        return _k(None, _DIM, "internal", False, ""), f"{data_type} type: proposed as a dimension"
    if texts and len(set(texts)) > 0.5 * non_null and len(set(texts)) > 50:
        reason = "text with mostly distinct values: review whether it identifies anyone"
    elif texts:
        reason = f"text with {len(set(texts))} distinct values in the sample: proposed as a dimension"
    else:
        reason = "no name or value evidence: proposed as an internal dimension"
    return _k(None, _DIM, "internal", False, ""), reason


def propose_column(name: str, data_type: pa.DataType, sample: Sequence[object]) -> ColumnProposal:
    """Propose level, role and personal flag for one column from its name, type and values.

    Args:
        name: The column name, in Chinese, English or pinyin initials.
        data_type: The column's Arrow type.
        sample: Some of its values (a list or an Arrow array); nulls allowed. Only
            ``SAMPLE_LIMIT`` values, evenly spread, are looked at.

    Returns:
        The proposal, with reasons that name the evidence used but never quote a value.

    Raises:
        InvalidInputError: The name is empty or the type is not an Arrow type.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("a column name must be a non-empty string")
    if not isinstance(data_type, pa.DataType):
        raise InvalidInputError(f"column {name!r}: data_type must be a pyarrow DataType")
    base_type = data_type.value_type if pa.types.is_dictionary(data_type) else data_type
    numeric = pa.types.is_integer(base_type) or pa.types.is_floating(base_type) or pa.types.is_decimal(base_type)
    values = [v for v in _sampled(sample) if not _is_null(v)]
    texts = [t for t in map(_as_text, values) if t]
    non_null = len(values)
    evidence = _value_evidence(texts, non_null) if non_null else []
    strong = next((e for e in evidence if e.share >= VALUE_SHARE and e.matches >= MIN_MATCHES), None)
    name_kind, ambiguous = _match_name(name, numeric)
    reasons: list[str] = []

    if name_kind is not None and ambiguous and strong is None and len(texts) >= 10:
        names = next((e for e in evidence if e.kind == "person_name"), None)
        if names is None or names.share < PARTIAL_SHARE:
            reasons.append("the name could mean a person's name, but the values do not look like names")
            name_kind = "thing_name"
    if name_kind is not None:
        reasons.append(f"column name suggests {KINDS[name_kind].label}")
    for e in evidence:
        if e is not strong and e.kind in _FORMAT_CHECKED and e.share >= PARTIAL_SHARE:
            reasons.append(f"{_percent(e.share)} of non-null sampled values are {e.label}, "
                           f"below the {_percent(VALUE_SHARE)} needed to rely on it")
    if name_kind in _FORMAT_CHECKED and strong is None and non_null >= MIN_MATCHES and not any(
            e.kind == name_kind and e.share >= PARTIAL_SHARE for e in evidence):
        reasons.append(f"few sampled values are valid {KINDS[name_kind].label} (masked or dirty?)")

    if strong is not None:
        value_kind = strong.kind
        if value_kind == "address" and name_kind in ("enterprise_address", "enterprise_name"):
            value_kind = "enterprise_address"
        kind = KINDS[value_kind]
        reasons.insert(0, f"{_percent(strong.share)} of {non_null} non-null sampled values are {strong.label}")
        if name_kind is not None:
            named = KINDS[name_kind]
            level = max(kind.level, named.level, key=_LEVEL_RANK.__getitem__)
            personal = kind.personal or named.personal
            if named.role == _KEY and kind.role == _ID:
                reasons.append("named as a key: pseudonymise it to use it as the entity key")
            return ColumnProposal(level, kind.role, personal, kind.detected, tuple(reasons))
        return ColumnProposal(kind.level, kind.role, kind.personal, kind.detected, tuple(reasons))
    if name_kind is not None:
        kind = KINDS[name_kind]
        return ColumnProposal(kind.level, kind.role, kind.personal, kind.detected, tuple(reasons))
    kind, reason = _fallback_kind(data_type, texts, non_null)
    return ColumnProposal(kind.level, kind.role, kind.personal, kind.detected, (*reasons, reason))


def propose_columns(table_sample: pa.Table) -> dict[str, ColumnProposal]:
    """Propose a classification for every column of a sample of a table.

    Args:
        table_sample: Some rows of the table (more than ``SAMPLE_LIMIT`` are thinned evenly).

    Returns:
        Column name to proposal, in the table's column order.

    Raises:
        InvalidInputError: Not an Arrow table, or two columns share a name.
    """
    if not isinstance(table_sample, pa.Table):
        raise InvalidInputError("a table sample must be a pyarrow Table")
    names = table_sample.column_names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"column names must be unique; repeated: {', '.join(duplicates)}")
    return {
        field.name: propose_column(field.name, field.type, table_sample.column(i))
        for i, field in enumerate(table_sample.schema)
    }
