"""visitorapi.useragent device models: vendor conventions as tables, the Table index against a naive oracle."""
import re

import pytest
from hypothesis import given, strategies as st

from visitorapi.useragent import _parse, appliances, vendors
from visitorapi.useragent.models import NO_SEP, REQ_SEP, Rule, Table, alternation


def device(brand, model, family):
    return {"deviceBrand": brand, "deviceModel": model, "deviceFamily": family}


ANDROID_SERIES = [
    pytest.param("Mozilla/5.0 (Linux; U; Android 2.2.1; ja-jp; SO-01C Build/FRF91) AppleWebKit/533.1 "
                 "(KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
                 device("SonyEricsson", "SO-01C", "SO-01C"), id="docomo-code-sony-ericsson"),
    pytest.param("Mozilla/5.0 (Linux; Android 2.3.5; SH-01D Build/S5100) AppleWebKit/537.31 (KHTML, like Gecko) "
                 "Chrome/26.0.1410.58 Mobile Safari/537.31", device("Sharp", "SH-01D", "SH-01D"), id="docomo-code-sharp"),
    pytest.param("Mozilla/5.0 (Linux; Android 2.3.6; U8185 Build/HuaweiU8185) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/28.0.1500.63 Mobile Safari/537.36", device("Huawei", "U8185", "U8185"), id="huawei-u8-series"),
    pytest.param("Mozilla/5.0 (Linux; U; Android 2.1-update1; de-de; ALCATEL_one_touch_890 Build/ERE27) "
                 "AppleWebKit/530.17 (KHTML, like Gecko) Version/4.0 Mobile Safari/530.17",
                 device("Alcatel", "One Touch 890", "Alcatel One Touch 890"), id="alcatel-one-touch-spelling"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.0.3; HTC_Amaze_4G Build/IML74K) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/32.0.1700.99 Mobile Safari/537.36",
                 device("HTC", "Amaze 4G", "HTC Amaze 4G"), id="htc-underscores-are-spaces"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.4.2; DROID RAZR HD Build/KDA20.62-10.1) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/30.0.0.0 Mobile Safari/537.36",
                 device("Motorola", "DROID RAZR HD", "Motorola DROID RAZR HD"), id="motorola-droid"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.3; XT1032 Build/14.10.0Q3.X-17) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/28.0.1500.94 Mobile Safari/537.36",
                 device("Motorola", "XT1032", "XT1032"), id="motorola-xt"),
    pytest.param("Mozilla/5.0 (Linux; U; Android 4.1.2; en-gb; SAMSUNG GT-I9100/I9100XWLSY Build/JZO54K) "
                 "AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
                 device("Samsung", "GT-I9100", "Samsung GT-I9100"), id="firmware-suffix-cut"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.0.4; Lenovo A660 Build/IMM76D) AppleWebKit/535.19 "
                 "(KHTML, like Gecko) Chrome/18.0.1025.166 Mobile Safari/535.19",
                 device("Lenovo", "A660", "Lenovo A660"), id="vendor-name-in-front"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.1.1; Celkon A119 Build/JRO03C) AppleWebKit/535.19 "
                 "(KHTML, Like Gecko) Chrome/18.0.1025.166 Mobile Safari/535.19",
                 device("Celkon", "A119", "A119"), id="vendor-whose-family-is-the-model"),
    pytest.param("VKAndroidApp/3.4.1-298 (Android 4.1.1; SDK 16; armeabi-v7a; asus PadFone 2; ru)",
                 device("Asus", "PadFone", "Asus PadFone"), id="app-names-the-handset"),
]

PHONES_AND_APPLIANCES = [
    pytest.param("SAMSUNG-SGH-A801", device("Samsung", "SGH-A801", "Samsung SGH-A801"), id="feature-phone-head"),
    pytest.param("MOT-V300/0B.08.03I MIB/2.2 Profile/MIDP-2.0 Configuration/CLDC-1.0",
                 device("Motorola", "V300", "Motorola V300"), id="motorola-head"),
    pytest.param("MQQBrowser/Mini2.2 (SonyEricssonW900i/R1L)",
                 device("SonyEricsson", "W900i", "Ericsson W900i"), id="sony-ericsson-in-comment"),
    pytest.param("Opera/9.80 (BREW; Opera Mini/5.1.191/27.2202; U; en) Presto/2.8.119 240X400 LG VN271",
                 device("LG", "VN271", "LG VN271"), id="vendor-word-at-the-end"),
    pytest.param("UCWEB/2.0 (Java; U; MIDP-2.0; en-US; GT-S5233S) U2/1.0.0 UCBrowser/9.4.0.342 U2/1.0.0 Mobile",
                 device("Samsung", "GT-S5233S", "Samsung GT-S5233S"), id="samsung-series-without-name"),
    pytest.param("Mozilla/4.0 (compatible; MSIE 6.0; Windows CE; IEMobile 6.8) PPC; 240x320; HTC_P6300/1.0 "
                 "Profile/MIDP-2.0 Configuration/CLDC-1.1", device("HTC", "P6300", "HTC P6300"), id="windows-ce"),
    pytest.param("KWC-S2410/1000 UP.Browser/7.2.6.1.821 (GUI) MMP/2.0",
                 device("Kyocera", "S2410", "Kyocera S2410"), id="kyocera-kwc"),
    pytest.param("BIRD.V59", device("Bird", "V59", "Bird V59"), id="dot-separator"),
    pytest.param("DoCoMo/2.0 F09C(c500;TB;W20H13)", device("DoCoMo", "F09C", "DoCoMo F09C"), id="docomo"),
    pytest.param("Mozilla/5.0 (F06B;FOMA;like Gecko)", device("DoCoMo", "F06B", "DoCoMo F06B"), id="docomo-foma"),
    pytest.param("HbbTV/1.1.1 (;Samsung;SmartTV2013;T-MST12DEUC-1102.1;;) WebKit",
                 {**device("Samsung", "SmartTV2013", "HbbTV"), "os": "Samsung", "osVersion": "2013",
                  "deviceType": "tv"}, id="hbbtv"),
    pytest.param("Mozilla/5.0 (DirectFB; U; Linux mips; en) AppleWebKit/531.2+ (KHTML, like Gecko) Safari/531.2+ "
                 "LG Browser/4.0.10(+SCREEN+TUNER; LGE; 32LD650-SA; 06.00.00; 0x00000001;); LG NetCast.TV-2010",
                 device("LG", "32LD650-SA", "NetCast.TV"), id="lg-netcast"),
    pytest.param("Mozilla/5.0 (DTV; TVwithVideoPlayer) NetFront/4.1 InettvBrowser/2.2 (08001F;DTV04VSFC3;0001;0001)",
                 device("Generic_Inettv", "DTV04VSFC3", "Inettv"), id="inettv"),
    pytest.param("Mozilla/5.0 (Linux; U; en-US) AppleWebKit/528.5+ (KHTML, like Gecko, Safari/528.5+) Version/4.0 "
                 "Kindle/3.0 (screen 600x800; rotate)",
                 {**device("Amazon", "Kindle 3.0", "Kindle"), "os": "Kindle", "osVersion": "3.0"}, id="kindle"),
    pytest.param("NetFront/3.5.1 (BREW 3.1.5; U; en-us; LG; NetFront/3.5.1/WAP) Sprint LN240 MMP/2.0",
                 device("Sprint", "LN240", "SprintLN240"), id="sprint"),
    pytest.param("Mozilla/5.0 (BB10; Touch) /537.10+ (KHTML, like Gecko) Version/10.0.9.2372 Mobile Safari/537.10+",
                 device("BlackBerry", "Touch", "BlackBerry Touch"), id="bb10"),
    pytest.param("Mozilla/5.0 (PlayStation 4 1.75) AppleWebKit/536.26 (KHTML, like Gecko)",
                 {**device("Sony", "PlayStation 4", "PlayStation 4"), "deviceType": "console"}, id="playstation"),
    pytest.param("Mozilla/5.0 (Nintendo WiiU) AppleWebKit/534.52 (KHTML, like Gecko) NX/2.1.0.8.21 "
                 "NintendoBrowser/1.0.0.7494.US", device("Nintendo", "Wii U", "Nintendo Wii U"), id="nintendo"),
]


@pytest.mark.parametrize("ua, expected", ANDROID_SERIES + PHONES_AND_APPLIANCES)
def test_device_table(ua, expected):
    got = _parse(ua)
    assert {key: got[key] for key in expected} == expected


@pytest.mark.parametrize("ua", [
    pytest.param("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                 "Mobile Safari/537.36 SamsungBrowser/23.0", id="browser-name-is-no-vendor"),
    pytest.param("Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 "
                 "HuaweiBrowser/14.0.2.311 Mobile Safari/537.36", id="huawei-browser-is-no-vendor"),
])
def test_android_without_model_stays_generic(ua):
    got = _parse(ua)
    assert (got["deviceBrand"], got["deviceModel"], got["deviceFamily"]) == (
        "Generic", "Smartphone", "Generic Smartphone")


@pytest.mark.parametrize("ua", [
    pytest.param("HbbTV/1.1.1 (;;;;;) Maple_2011", id="hbbtv-without-vendor"),
    pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                 "Safari/537.36", id="desktop"),
])
def test_no_appliance_without_its_fields(ua):
    assert appliances.detect(ua) is None


# --- the Table index against a naive oracle ---------------------------------------------------------

ORACLE_RULES = (
    Rule("SAMSUNG", "Samsung", "{rest}", "Samsung {rest}"),
    Rule("SAMSUNG-SGH", "Samsung SGH", "{rest}", "SGH {rest}", nocase=False, sep=NO_SEP),
    Rule("SM-", "Samsung", "{token}", "Samsung {whole}", nocase=False, sep=NO_SEP),
    Rule("SMART", "Other", "{token}", "{token}", nocase=False, sep=NO_SEP),
    Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}", then=r"\d+", keep=True),
    Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}"),
    Rule("vivo", "vivo", sep=REQ_SEP),
    Rule(("X1", "X2"), "SonyEricsson", "{token}", "{token}", nocase=False, sep=NO_SEP),
    Rule("X10", "Xperia", "{token}", "Xperia {token}", nocase=False, sep=NO_SEP),
    Rule("HTC", "HTC", "{rest}", "HTC {rest}", spaces=True),
    Rule("Kindle", "Amazon", "Kindle", "Kindle", nocase=False, sep=NO_SEP),
    Rule("GiONEE", "Gionee", "{rest}", "{spelled} {rest}"),
)
ORACLE_TABLE = Table(exact={"Nexus 5": ("LG", "Nexus 5", "Nexus 5")}, rules=ORACLE_RULES)


def naive_lookup(token, mobile=True):
    """Every rule, every prefix and spelling, longest prefix first, table order on ties; no index."""
    if token == "Nexus 5":
        return ("LG", "Nexus 5", "Nexus 5", "mobile" if mobile else "tablet")
    candidates = []
    for order, rule in enumerate(ORACLE_RULES):
        for prefix in rule.prefixes:
            spellings = {prefix, prefix.upper(), prefix.lower(), prefix.capitalize()} if rule.nocase else {prefix}
            if any(token.startswith(spelling) for spelling in spellings):
                candidates.append((-len(prefix), order, rule, len(prefix)))
    for _, _, rule, size in sorted(candidates, key=lambda item: item[:2]):
        found = rule.apply(token, size)
        if found is not None:
            return found + ("mobile" if mobile else "tablet",)
    return None


TOKEN_PARTS = st.sampled_from(["SAMSUNG", "samsung", "Samsung", "SM-", "SMART", "Nokia", "NOKIA", "vivo", "X1", "X2",
                               "0", "i", "SAMSUNG-SGH", "-SGH", "HTC", "htc", "Kindle", "GiONEE", "Nexus 5", " ", "_", "-", "/", "8", "G900P", "Sirocco",
                               "One_X", "a", "1.2", ""])


# Callers hand the table stripped tokens (android_model, the scan and the fast path all strip).
@given(st.lists(TOKEN_PARTS, min_size=1, max_size=5).map("".join).map(str.strip), st.booleans())
def test_table_lookup_agrees_with_naive_oracle(token, mobile):
    assert ORACLE_TABLE.lookup(token, mobile) == naive_lookup(token, mobile)


@given(st.lists(st.text(alphabet="abcx", min_size=1, max_size=4), min_size=1, max_size=6, unique=True),
       st.text(alphabet="abcx -", max_size=40))
def test_trie_alternation_finds_every_word_start(words, text):
    pattern = re.compile("(?<![a-z])" + alternation(sorted(words)))
    found = [match.start() for match in pattern.finditer(text)]
    # Oracle: scan left to right; a match at i consumes the longest word there, as finditer does.
    expected, index = [], 0
    while index <= len(text):
        here = [word for word in words if text.startswith(word, index)]
        if here and (index == 0 or not text[index - 1].isalpha()):
            expected.append(index)
            index += max(len(word) for word in here)
        else:
            index += 1
    assert found == expected


def test_phone_scan_skips_a_vendor_word_without_a_model():
    # "SAMSUNG;" names no model; the next vendor word does.
    assert vendors.PHONES.scan("Mozilla/5.0 (SAMSUNG; SAMSUNG-GT-S8500/1.0; U; Bada/1.0; es)")[:3] == (
        "Samsung", "GT-S8500", "Samsung GT-S8500")
