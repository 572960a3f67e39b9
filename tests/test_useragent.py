"""visitorapi.useragent: tables per family, properties on any text, adversarial input, cache."""
import random

import pytest
from hypothesis import example, given, strategies as st

from visitorapi import useragent
from visitorapi.useragent import KEYS, _parse, parse, parse_uncached, set_cache_size
from test_useragent_corpora import fast_answers

STRING_KEYS = KEYS[:-1]

CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/153.0.0.0 Safari/537.36")


def expect(browser, browser_version, os, os_version, brand, model, family, device_type):
    return {"browser": browser, "browserVersion": browser_version, "os": os,
            "osVersion": os_version, "deviceBrand": brand, "deviceModel": model,
            "deviceFamily": family, "deviceType": device_type}


BROWSERS = [
    pytest.param(CHROME_MAC,
                 expect("Chrome", "153.0", "Mac OS X", "10.15", "Apple", "Mac", "Mac", "desktop"),
                 id="chrome-mac"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Safari/537.36 Edg/138.0.0.0",
                 expect("Edge", "138.0", "Windows", "10", "", "", "Other", "desktop"), id="edge-windows"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
                 expect("Firefox", "140.0", "Windows", "10", "", "", "Other", "desktop"), id="firefox-windows"),
    pytest.param("Mozilla/5.0 (Android 14; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
                 expect("Firefox Mobile", "140.0", "Android", "14", "Generic", "Smartphone",
                        "Generic Smartphone", "mobile"), id="firefox-android"),
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/26.6.1 Mobile/15E148 Safari/604.1",
                 expect("Mobile Safari", "26.6", "iOS", "18.7", "Apple", "iPhone", "iPhone", "mobile"),
                 id="safari-iphone"),
    pytest.param("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/18.5 Safari/605.1.15",
                 expect("Safari", "18.5", "Mac OS X", "10.15", "Apple", "Mac", "Mac", "desktop"), id="safari-mac"),
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 26_6_2 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) CriOS/154.0.8037.55 Mobile/15E148 Safari/604.1",
                 expect("Chrome Mobile iOS", "154.0", "iOS", "26.6", "Apple", "iPhone", "iPhone", "mobile"),
                 id="chrome-ios"),
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) GSA/376.0.777690323 Mobile/15E148 Safari/604.1",
                 expect("Google", "376.0", "iOS", "18.5", "Apple", "iPhone", "iPhone", "mobile"), id="google-app"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/139.0.0.0 Mobile Safari/537.36",
                 expect("Chrome Mobile", "139.0", "Android", "10", "Generic_Android", "K", "K", "mobile"),
                 id="chrome-android-reduced"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Safari/537.36",
                 expect("Chrome", "138.0", "Android", "10", "Generic_Android_Tablet", "K", "K", "tablet"),
                 id="chrome-android-tablet"),
    pytest.param("Mozilla/5.0 (Linux; Android 14; SM-S928U Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36",
                 expect("Chrome Mobile WebView", "127.0", "Android", "14", "Samsung", "SM-S928U",
                        "Samsung SM-S928U", "mobile"), id="webview-samsung"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
                 expect("Samsung Internet", "26.0", "Android", "10", "Generic_Android", "K", "K", "mobile"),
                 id="samsung-internet"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/116.0.0.0 Safari/537.36 OPR/102.0.0.0",
                 expect("Opera", "102.0", "Windows", "10", "", "", "Other", "desktop"), id="opera"),
    pytest.param("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (J2ME/22.478; U; en) Presto/2.5.25 Version/10.54",
                 {"browser": "Opera Mini", "browserVersion": "9.80"}, id="opera-mini"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/98.0.4758.141 YaBrowser/22.3.2.644 Yowser/2.5 Safari/537.36",
                 {"browser": "Yandex Browser", "browserVersion": "22.3"}, id="yandex"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/118.0.0.0 Mobile Safari/537.36 EdgA/118.0.2088.58",
                 {"browser": "Edge Mobile", "browserVersion": "118.0"}, id="edge-android"),
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) FxiOS/118.2  Mobile/15E148 Safari/605.1.15",
                 {"browser": "Firefox iOS", "browserVersion": "118.2"}, id="firefox-ios"),
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Mobile/15E148",
                 {"browser": "Mobile Safari UI/WKWebView", "browserVersion": ""}, id="ios-webview"),
    pytest.param("Mozilla/5.0 (Linux; Android 9; SM-G960F Build/PPR1.180610.011; wv) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Version/4.0 Chrome/118.0.0.0 Mobile Safari/537.36 "
                 "[FB_IAB/FB4A;FBAV/431.1.0.35.116;]",
                 {"browser": "Facebook", "browserVersion": "431.1"}, id="facebook-in-app"),
    pytest.param("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
                 {"browser": "IE", "browserVersion": "10.0", "os": "Windows", "osVersion": "8"}, id="msie"),
    pytest.param("Mozilla/5.0 (Linux; U; Android 2.2.2; en-gb; HTC Desire Build/FRG83G) AppleWebKit/533.1 "
                 "(KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
                 {"browser": "Android", "browserVersion": "2.2", "deviceBrand": "HTC",
                  "deviceFamily": "HTC Desire"}, id="android-stock"),
]

SYSTEMS = [
    pytest.param("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/109.0.0.0 Safari/537.36", {"os": "Windows", "osVersion": "7"}, id="windows-7"),
    pytest.param("Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/109.0.0.0 Safari/537.36", {"os": "Windows", "osVersion": "8.1"}, id="windows-8.1"),
    pytest.param("Mozilla/5.0 (Windows NT 5.1; rv:52.0) Gecko/20100101 Firefox/52.0",
                 {"os": "Windows", "osVersion": "XP"}, id="windows-xp"),
    pytest.param("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Safari/537.36", {"os": "Chrome OS", "osVersion": "14541.0"}, id="chrome-os"),
    pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Safari/537.36",
                 {"os": "Linux", "osVersion": "", "deviceFamily": "Other"}, id="linux"),
    pytest.param("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:154.0) Gecko/20100101 Firefox/154.0",
                 {"os": "Ubuntu", "browser": "Firefox"}, id="ubuntu"),
    pytest.param("Mozilla/5.0 (iPad; CPU OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1",
                 {"os": "iOS", "osVersion": "17.5", "deviceFamily": "iPad", "deviceType": "tablet"}, id="ipad"),
    pytest.param("Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; "
                 "Touch; NOKIA; Lumia 920)",
                 {"os": "Windows Phone", "osVersion": "8.0", "browser": "IE Mobile", "deviceBrand": "Nokia",
                  "deviceFamily": "Lumia 920"}, id="windows-phone"),
    pytest.param("MyApp/1.0 CFNetwork/811.5.4 Darwin/16.6.0", {"os": "iOS", "osVersion": "10.3"},
                 id="ios-cfnetwork"),
    pytest.param("Mozilla/5.0 (SymbianOS/9.2; U; Series60/3.1 NokiaN95/12.0.013; Profile/MIDP-2.0 "
                 "Configuration/CLDC-1.1 ) AppleWebKit/413 (KHTML, like Gecko) Safari/413",
                 {"os": "Symbian OS", "osVersion": "9.2"}, id="symbian"),
]

DEVICES = [
    pytest.param("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "Google", "deviceModel": "Pixel 9", "deviceFamily": "Pixel 9"}, id="pixel"),
    pytest.param("Mozilla/5.0 (Linux; Android 6.0; Nexus 5 Build/MRA58N) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "LG", "deviceModel": "Nexus 5", "deviceFamily": "Nexus 5"}, id="nexus"),
    pytest.param("Mozilla/5.0 (Linux; Android 14; CPH2653) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/138.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "Oppo", "deviceModel": "CPH2653", "deviceFamily": "Oppo CPH2653"}, id="oppo"),
    pytest.param("Mozilla/5.0 (Linux; Android 11; Redmi Note 9 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/100.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "XiaoMi", "deviceModel": "Redmi Note 9 Pro",
                  "deviceFamily": "XiaoMi Redmi Note 9 Pro"}, id="xiaomi"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/100.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "Huawei", "deviceModel": "VOG-L29", "deviceFamily": "Huawei VOG-L29"}, id="huawei"),
    pytest.param("Mozilla/5.0 (Linux; Android 11; moto g(10)) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/100.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "Motorola", "deviceModel": "g(10)", "deviceFamily": "Motorola g(10)"},
                 id="motorola-nested-parens"),
    pytest.param("Mozilla/5.0 (Linux; Android 11; KFRAWI) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Silk/126.4.6 like Chrome/126.0.6478.238 Safari/537.36",
                 {"browser": "Amazon Silk", "deviceBrand": "Amazon", "deviceFamily": "Kindle"}, id="kindle"),
    pytest.param("Mozilla/5.0 (Linux; Android 9; LG-H818) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/100.0.0.0 Mobile Safari/537.36",
                 {"deviceBrand": "LG", "deviceModel": "H818", "deviceFamily": "LG-H818"}, id="lg"),
    pytest.param("SAMSUNG-SGH-A801", {"deviceBrand": "Samsung", "deviceModel": "SGH-A801",
                                      "deviceFamily": "Samsung SGH-A801"}, id="feature-phone-samsung"),
    pytest.param("NOKIA-6230I", {"deviceBrand": "Nokia", "deviceFamily": "Nokia 6230I"}, id="feature-phone-nokia"),
    pytest.param("Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
                 "Chrome/137.0.0.0 Mobile DuckDuckGo/5 Safari/537.36",
                 {"browser": "DuckDuckGo Mobile", "deviceBrand": "Generic", "deviceModel": "Smartphone",
                  "deviceFamily": "Generic Smartphone"}, id="android-no-model"),
]

BOTS = [
    pytest.param("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                 {"browser": "Googlebot", "browserVersion": "2.1", "deviceBrand": "Spider",
                  "deviceModel": "Desktop", "deviceFamily": "Spider", "deviceType": "bot", "isBot": True},
                 id="googlebot"),
    pytest.param("Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/70.0.0.0 Safari/537.36",
                 {"browser": "Bytespider", "deviceFamily": "Spider", "isBot": True}, id="bytespider"),
    pytest.param("Steeler/3.3 (http://www.tkl.iis.u-tokyo.ac.jp/~crawler/)",
                 {"browser": "Steeler", "browserVersion": "3.3", "isBot": True}, id="crawler-by-url"),
    pytest.param("SiteScoreBot v20210315 - https://sitescore.ai",
                 {"browser": "SiteScoreBot", "browserVersion": "20210315", "isBot": True}, id="bot-v-version"),
    pytest.param(CHROME_MAC, {"isBot": False, "deviceType": "desktop"}, id="browser-is-not-bot"),
]

OTHER_TYPES = [
    pytest.param("Mozilla/5.0 (SMART-TV; Linux; Tizen 2.3) AppleWebkit/538.1 (KHTML, like Gecko) "
                 "SamsungBrowser/1.0 TV Safari/538.1", {"os": "Tizen", "deviceType": "tv"}, id="tv"),
    pytest.param("Mozilla/5.0 (PLAYSTATION 3 4.31) AppleWebKit/531.22.8 (KHTML, like Gecko)",
                 {"deviceType": "console"}, id="console"),
    pytest.param("atc/1.0 watchOS/5.1.3 model/Watch3,4 hwp/t8004 build/16S535 (6; dt:156)",
                 {"os": "WatchOS", "osVersion": "5.1", "deviceType": "wearable"}, id="watch"),
]


@pytest.mark.parametrize("ua, expected", BROWSERS + SYSTEMS + DEVICES + BOTS + OTHER_TYPES)
def test_parse_table(ua, expected):
    got = _parse(ua)
    assert {key: got[key] for key in expected} == expected


@pytest.mark.parametrize("ua", [
    pytest.param("", id="empty"),
    pytest.param("-", id="dash"),
    pytest.param("Mozilla/5.0", id="bare-mozilla"),
    pytest.param("()", id="empty-comment"),
])
def test_unknown_input_gives_unknown_values(ua):
    got = parse_uncached(ua)
    assert got["browser"] == "Other" and got["os"] == "Other" and got["deviceFamily"] == "Other"
    assert got["browserVersion"] == "" and got["deviceBrand"] == "" and got["isBot"] is False


def check_shape(result):
    assert set(result) == set(KEYS)
    for key in STRING_KEYS:
        assert isinstance(result[key], str), key
    assert result["deviceType"] in ("desktop", "mobile", "tablet", "tv", "console", "wearable", "bot", "unknown")
    assert isinstance(result["isBot"], bool)
    assert (result["deviceType"] == "bot") == result["isBot"]


@given(st.text(max_size=600))
@example("(BB10; ")   # found by this test: a BB10 token without a model raised
def test_any_text_gives_the_keys_and_never_raises(text):
    # _parse has no safety net, so a bug in any rule surfaces here as an exception.
    result = _parse(text)
    check_shape(result)
    assert parse(text) == result


UA_ALPHABET = st.sampled_from(list("Mozilla/5.0 (;) AndroidiPhoneWindowsNTCPU OS_ like Gecko Build/"
                                   "Chrome Safari Version Mobile wv SM-GT LG HTC bot spider 0123456789.,-"))


@given(st.lists(UA_ALPHABET, max_size=300).map("".join))
def test_ua_shaped_text_never_raises(text):
    check_shape(_parse(text))


@given(st.text(max_size=200), st.text(max_size=200))
def test_parse_is_deterministic_and_pure(first, second):
    before = _parse(first)
    _parse(second)
    assert _parse(first) == before


ADVERSARIAL = [
    pytest.param("a" * 8192, id="8k-letters"),
    pytest.param("(" * 8192, id="8k-open-parens"),
    pytest.param("Mozilla/5.0 (" + "Linux; Android 10; " * 400 + ")", id="8k-repeated-comment"),
    pytest.param("bot" + "x" * 8189, id="8k-bot-token"),
    pytest.param("x" * 8000 + " bot", id="8k-run-then-bot"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; " + "SM-" * 2700 + ")", id="8k-model-prefixes"),
    pytest.param("Chrome/" + "1." * 4000, id="8k-version-dots"),
    pytest.param("\x00\x01\x7f\x1b[31m" * 1000, id="control-chars"),
    pytest.param("Mozilla/5.0 (Linux; Android 10; " + " Build/x" * 1000
                 + ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1.0 Safari/1", id="8k-build-model-fast-shape"),
    pytest.param("Huawei/1 " * 900, id="8k-vendor-words-without-model"),
    pytest.param("HbbTV/1 (" * 900, id="8k-unclosed-hbbtv-fields"),
    pytest.param("InettvBrowser/1 (" * 480, id="8k-unclosed-inettv-fields"),
]


@pytest.mark.parametrize("ua", ADVERSARIAL)
def test_adversarial_input_is_handled(ua):
    result = parse_uncached(ua)
    check_shape(result)
    # Past MAX_LENGTH the UA is cut, so the result is that of its prefix.
    assert result == _parse(ua[:useragent.MAX_LENGTH])
    check_shape(_parse(ua))


def test_long_padding_does_not_change_a_real_ua():
    padded = CHROME_MAC + " " + "x" * 8192
    got = parse_uncached(padded)
    assert (got["browser"], got["os"], got["deviceFamily"]) == ("Chrome", "Mac OS X", "Mac")


def test_non_ascii_model_is_kept():
    ua = ("Mozilla/5.0 (Linux; Android 12; Téléphone Ñ1) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Mobile Safari/537.36")
    got = _parse(ua)
    assert (got["browser"], got["os"], got["deviceBrand"], got["deviceModel"]) == (
        "Chrome Mobile", "Android", "Generic_Android", "Téléphone Ñ1")


def test_control_characters_inside_a_real_ua():
    ua = CHROME_MAC.replace(" ", "\t", 1) + "\x00\r\n"
    got = _parse(ua)
    assert got["browser"] == "Chrome" and got["os"] == "Mac OS X"


def test_latin1_decoded_random_bytes():
    rng = random.Random(20240601)
    for _ in range(300):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        check_shape(_parse(raw.decode("latin-1")))


def test_non_string_input_does_not_raise():
    check_shape(parse_uncached(None))
    check_shape(parse_uncached(b"Mozilla/5.0"))


@pytest.fixture
def cache_size():
    yield set_cache_size
    set_cache_size(4096)


def test_cache_is_bounded(cache_size):
    cache_size(3)
    for index in range(10):
        parse(f"Agent{index}/1.0")
    assert len(useragent._cache) == 3


def test_cache_can_be_turned_off(cache_size):
    cache_size(0)
    parse(CHROME_MAC)
    assert len(useragent._cache) == 0


def test_cached_result_is_a_copy(cache_size):
    cache_size(10)
    first = parse(CHROME_MAC)
    first["browser"] = "changed by caller"
    assert parse(CHROME_MAC)["browser"] == "Chrome"


def test_negative_cache_size_is_refused(cache_size):
    with pytest.raises(ValueError, match="cache size"):
        cache_size(-1)


FAST_PATH_UAS = [param.values[0] for param in BROWSERS + SYSTEMS + DEVICES + BOTS
                 if param.values[0].startswith("Mozilla/5.0 (")]


@pytest.mark.parametrize("ua", FAST_PATH_UAS)
def test_fast_path_agrees_with_general_rules(ua):
    for fast_result in fast_answers(ua):
        assert fast_result == useragent._parse_general(ua)


@given(st.sampled_from(["Windows NT 10.0; Win64; x64", "Linux; Android 10; K", "Linux; Android 14; SM-S928U",
                        "iPhone; CPU iPhone OS 18_7 like Mac OS X", "Macintosh; Intel Mac OS X 10_15_7",
                        "iPad; CPU OS 17_5 like Mac OS X", "X11; Linux x86_64"]),
       st.sampled_from([" AppleWebKit/537.36 (KHTML, like Gecko) ", " Gecko/20100101 "]),
       st.lists(st.sampled_from(["Chrome/139.0.0.0", "Mobile", "Safari/537.36", "Version/18.5", "Edg/138.0",
                                 "OPR/102.0", "SamsungBrowser/26.0", "CriOS/154.0", "Firefox/140.0", "Gecko/140.0",
                                 "Mobile/15E148", "FxiOS/118", "Ddg/18.5", "YaBrowser/22.3.2"]),
                min_size=1, max_size=5).map(" ".join))
def test_fast_path_agrees_on_generated_uas(comment, engine, products):
    ua = "Mozilla/5.0 (" + comment + ")" + engine + products
    for fast_result in fast_answers(ua):
        assert fast_result == useragent._parse_general(ua)
