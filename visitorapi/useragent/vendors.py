"""Vendor conventions for Android model tokens: which prefix or model-number series is whose.

Each entry says how a vendor names its devices in the Android comment
(``Linux; Android 4.1; <model token> Build/...``) and how uap-core writes the
result: its brand spelling ("XiaoMi", "SonyEricsson"), whether the model
keeps the vendor's name ("Lenovo A660" -> model "A660") and whether the
family repeats the brand ("Samsung GT-I9300") or is the bare token
("SO-01C", NTT docomo's naming). See ``models.Rule`` for the template
language. The entries are written from the vendors' public model-number
conventions (Samsung's SM-/GT-, Sony Ericsson's two letters and digits, the
Japanese carriers' "SH-01D" style), not copied from any rule file.

Ordering: a longer prefix wins over a shorter one, whatever the position;
among equal prefixes the first listed wins, so a narrower ``then`` comes
first.
"""
from visitorapi.useragent.models import NO_SEP, REQ_SEP, Rule, Shape, Table

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _series(letters, digits="0123456789"):
    """``_series("X")`` -> ("X0", ..., "X9"): a model series of letters then a digit.

    Table entries are indexed by their first two characters, so a one-letter
    series is written as its ten two-character prefixes.
    """
    return tuple(letters + digit for digit in digits)


def _bare(prefix, brand, family="{token}", *, then=None, nocase=False):
    """A series whose model is the token itself ("SO-01C" is SonyEricsson's, family "SO-01C")."""
    return Rule(prefix, brand, "{token}", family, nocase=nocase, sep=NO_SEP, then=then)


ANDROID = Table(
    exact={
        "Nexus 5": ("LG", "Nexus 5", "Nexus 5"), "Nexus 5X": ("LG", "Nexus 5X", "Nexus 5X"),
        "Nexus 4": ("LG", "Nexus 4", "Nexus 4"), "Nexus 6P": ("Huawei", "Nexus 6P", "Nexus 6P"),
        "Nexus 6": ("Motorola", "Nexus 6", "Nexus 6"), "Nexus 9": ("HTC", "Nexus 9", "Nexus 9"),
        "Nexus S": ("Samsung", "Nexus S", "Nexus S"), "Nexus 7": ("Generic_Android", "Nexus 7", "Nexus 7"),
        "Nexus 10": ("Generic_Android", "Nexus 10", "Nexus 10"),
        "Nexus One": ("Generic_Android", "Nexus One", "Nexus One"),
        "GM1910": ("OnePlus", "OnePlus GM1910", "OnePlus GM1910"),
    },
    rules=(
        # Samsung: its name in front, or one of its model-number series.
        Rule("SAMSUNG", "Samsung", "{rest}", "Samsung {rest}"),
        Rule("Samsung ", "Samsung", "{rest}", "Samsung {token}", nocase=False, then="Galaxy"),
        *(Rule(series, "Samsung", "{token}", "Samsung {whole}", nocase=False, sep=NO_SEP)
          for series in ("SM-", "GT-", "SGH-", "SCH-", "SPH-", "SHV-", "SHW-", "YP-", "EK-")),
        _bare("SC-", "Samsung"),  # NTT docomo's naming: family is the bare code
        Rule("Galaxy", "Samsung", "{token}", "Samsung {token}"),
        Rule(("I9", "I8"), "Samsung", "{token}", "Samsung {token}", nocase=False, sep=NO_SEP, then=r"\d{3}"),
        # Google and the Nexus line (exact tokens above).
        Rule("Pixel", "Google", "{token}", "{token}", nocase=False, sep=NO_SEP),
        # Sony Ericsson's two-letter series and Sony's later ones; both brands
        # write the bare code as the family.
        Rule("SonyEricsson", "SonyEricsson", "{rest}", "SonyEricsson{rest}"),
        Rule("Ericsson", "SonyEricsson", "{rest}", "SonyEricsson{rest}"),
        Rule("Sony", "Sony"),
        Rule("ST", "Trekstor", "{token}", "Trekstor {token}", nocase=False, sep=NO_SEP, then=r"\d{4}"),
        *(_bare(series, "SonyEricsson", then=r"\d")
          for series in ("SO-", "LT", "ST", "SK", "WT", "MK", "CK")),
        _bare(("R800", "U20"), "SonyEricsson"),
        _bare(_series("X") + _series("E"), "SonyEricsson"),
        _bare(("Xperia X", "Xperia Arc", "Xperia Neo", "Xperia neo", "Xperia Mini", "Xperia Pro",
               "Xperia Acro", "Xperia Live", "XPERIA X8", "xperia x8"), "SonyEricsson"),
        _bare("Xperia", "Sony"),
        _bare(_series("C")[1:7] + _series("D")[1:7], "Sony", then=r"\d{3}$"),
        _bare("SGP", "Sony", then=r"\d"),
        _bare("SOL", "Sony", "Sony {token}", then=r"\d"),
        # LG keeps its "LG-" in the family; docomo and US carrier codes are bare.
        Rule("LG", "LG", "{rest}", "{token}"),
        Rule("lg-", "LG", "{rest}", "LG {rest}", nocase=False),
        Rule("LGE LG-", "LG", "{rest}", "LG {rest}", nocase=False),
        Rule("LGE ", "LG", "{rest}", "LG {rest}", nocase=False),
        _bare("LGL", "LG", then=r"\d"),
        _bare("LM-", "LG"),
        _bare(("L-0", "VS", "LS"), "LG", then=r"\d"),
        _bare("Optimus", "LG"),
        # HTC: its name, its phone names, and the US carriers' codes.
        Rule("HTC", "HTC", "{rest}", "HTC {rest}", spaces=True),
        Rule(("Desire", "DESIRE", "Sensation", "Wildfire", "Hero", "HERO", "EVO", "Evo", "Incredible", "Legend",
              "Magic", "Tattoo", "Aria", "ARIA", "Amaze", "AMAZE", "Rezound", "Vivid", "Thunderbolt", "Flyer",
              "ChaCha", "Salsa", "Explorer", "Rhyme", "Raider", "Inspire", "Dream", "Eris", "ERIS", "HD2",
              "Glacier", "Bravo", "Buzz", "Passion", "Velocity", "Vision", "Runnymede", "Pyramid",
              "ADR6", "PC36", "PG06", "PG86", "APX"),
             "HTC", "{token}", "HTC {token}", nocase=False, sep=NO_SEP, spaces=True),
        Shape("0123456789", r"\d{3}HT$", "HTC", "{token}", "{token}"),
        Rule(("One", "ONE", "one"), "HTC", "{token}", "HTC {token}", nocase=False, sep=NO_SEP,
             then=r"(?: [A-Za-z+]{1,2})?$"),
        Rule("HTL", "HTC", "{token}", "HTC {token}", nocase=False, sep=NO_SEP, then=r"\d"),
        # Motorola
        Rule("Motorola-", "Motorola", "{rest}", "{token}", nocase=False),
        Rule("Motorola", "Motorola", "{rest}", "Motorola {rest}", sep=REQ_SEP),
        Rule("MOT-", "Motorola", "{rest}", "{token}", nocase=False),
        Rule("moto", "Motorola", "{rest}", "Motorola {rest}", sep=REQ_SEP),
        Rule("Moto ", "Motorola", "{rest}", "{token}", nocase=False),
        Rule("Moto", "Motorola", "{rest}", "{token}", nocase=False, sep=NO_SEP, then=r"[A-Z]"),
        Rule("DROID", "Motorola", "{token}", "Motorola {token}", sep=NO_SEP),
        Rule(("Milestone", "XOOM"), "Motorola", "{token}", "Motorola {token}", nocase=False, sep=NO_SEP),
        Rule("MZ", "Motorola", "{token}", "Motorola {token}", nocase=False, sep=NO_SEP, then=r"\d{3}"),
        _bare(("XT", "MB", "WX"), "Motorola", then=r"\d{3}"),
        _bare("ME", "Motorola", then=r"\d{3}$"),
        _bare("MT", "Motorola", then=r"\d{3}(?:_|$)"),
        _bare("MT", "SonyEricsson", then=r"\d"),
        _bare(("A8", "A9"), "Motorola", then=r"\d\d(?:\D|$)"),
        _bare("CLIQ", "Motorola"),
        # Huawei and Honor.
        Rule("HUAWEI", "Huawei", "{rest}", "{token}"),
        Rule("Honor", "Huawei", "Honor {rest}", "Huawei Honor {rest}"),
        _bare(("U8", "U9", "C8", "M8", "M6", "T8"), "Huawei", then=r"\d{2,4}(?:[ +A-Za-z-]|$)"),
        _bare(("Ascend", "IDEOS", "MediaPad"), "Huawei"),
        Shape(_UPPER, r"[A-Z]{3}-(?:[A-Z]X|L|AL|TL|N|W|U)\d{1,2}", "Huawei"),
        # Xiaomi
        *(Rule(series, "XiaoMi", "{token}", "XiaoMi {token}", nocase=False, sep=NO_SEP)
          for series in ("Redmi", "POCO", "Poco", "HM ")),
        *(Rule(series, "XiaoMi", "{token}", "XiaoMi {token}", nocase=False, sep=NO_SEP, then=r"[ \w+]")
          for series in ("Mi", "MI")),
        Rule("MI-ONE", "XiaoMi", "{token}", "XiaoMi {token}", nocase=False, sep=NO_SEP),
        Rule("Xiaomi", "XiaoMi", "{rest}", "XiaoMi {rest}"),
        # Spice writes "Mi" and three digits (Mi230, Mi720).
        _bare(_series("Mi") + _series("mi"), "Spice", then=r"\d\d"),
        # Oppo and its Realme line.
        *(Rule(series, "Oppo", "{token}", "Oppo {token}", nocase=False, sep=NO_SEP, then=r"\d")
          for series in ("CPH", "RMX", "PCHM", "PBAM", "PDEM", "PEGM", "R8", "X90", "U70", "T70")),
        Rule("Find", "Oppo", "{token}", "Oppo {token}", nocase=False, sep=NO_SEP),
        Rule("OPPO", "Oppo", "{rest}", "Oppo {rest}"),
        # OnePlus
        Rule("ONEPLUS ", "OnePlus", "{token}", "OnePlus {token}", sep=NO_SEP),
        *(Rule(series, "OnePlus", "OnePlus {token}", "OnePlus {token}", nocase=False, sep=NO_SEP, then=r"\d{4}")
          for series in ("BE", "DN", "EB", "HD", "IN", "KB", "LE", "NE", "PHB")),
        # Amazon's Fire tablets.
        Rule("KF", "Amazon", "Kindle", "Kindle", nocase=False, sep=NO_SEP, then=r"[A-Z]{2}"),
        Rule("Kindle", "Amazon", "Kindle", "Kindle", nocase=False, sep=NO_SEP),
        # Lenovo
        Rule("Lenovo", "Lenovo"),
        Rule("LNV-Lenovo", "Lenovo"),
        Rule("IdeaTab", "Lenovo", "IdeaTab {rest}", "Lenovo IdeaTab {rest}"),
        Rule("Ideapad", "Lenovo", "{token}", "Lenovo {token}", nocase=False, sep=NO_SEP),
        # ZTE
        Rule("ZTE", "ZTE"),
        Rule("ZTE-U ", "ZTE", nocase=False),
        Rule(("BLADE", "Blade"), "ZTE", "Blade{rest}", "ZTE Blade{rest}", nocase=False, sep=NO_SEP),
        Rule("Skate", "ZTE", "{token}", "ZTE {token}", nocase=False, sep=NO_SEP),
        _bare(("N8", "N9"), "ZTE", then=r"\d{3}$"),
        _bare(_series("V")[1:], "ZTE", then=r"\d?[A-Z]?$"),
        _bare(_series("Z")[5:], "ZTE", then=r"\d\d[A-Za-z]?$"),
        Shape("0123456789", r"\d{3}Z$", "ZTE", "{token}", "{token}"),
        # Alcatel writes its One Touch line in many ways; uap-core writes "One Touch".
        Rule(("ALCATEL ONE TOUCH", "ALCATEL_ONE_TOUCH", "ALCATEL_one_touch", "ALCATEL one touch",
              "ALCATEL ONETOUCH", "ALCATEL OT-", "ALCATEL_OT-", "ALCATEL-one-touch"),
             "Alcatel", "One Touch {rest}", "Alcatel One Touch {rest}"),
        Rule(("ONE TOUCH", "ONETOUCH"), "Alcatel", "One Touch {rest}", "Alcatel One Touch {rest}"),
        Rule("ALCATEL", "Alcatel"),
        # Asus
        Rule("ASUS", "Asus"),
        Rule(("Transformer", "PadFone", "eeepc"), "Asus", "{token}", "Asus {token}", nocase=False, sep=NO_SEP),
        Rule(("TF", "ME"), "Asus", "{token}", "Asus {token}", nocase=False, sep=NO_SEP, then=r"\d{3}"),
        Rule("K00", "Asus", "{token}", "Asus {token}", nocase=False, sep=NO_SEP, then=r"[A-Z]$"),
        # Acer
        Rule("ACER ", "Acer", "{rest}", "{token}", nocase=False),
        Rule("Acer", "Acer"),
        _bare(("A1-", "B1-", "Iconia", "Liquid"), "Acer"),
        _bare(("A5", "A7"), "Acer", then=r"\d\d(?:\D|$)"),
        # Micromax: its name, or "A" and two or three digits below A300.
        Rule("Micromax", "Micromax"),
        _bare(_series("A") + _series("a"), "Micromax", "Micromax {token}", then=r"\d?$"),
        # (A0xx and A1[2-9]x are other makers' now: Nothing's A063, A142.)
        _bare(("A10", "A11", "A20", "A21", "A22", "A23", "A24", "A25", "a20", "a21", "a22", "a23", "a24", "a25"),
              "Micromax", "Micromax {token}", then=r"\d(?:[A-Za-z+]|$)"),
        # The Japanese carriers' codes: maker letter(s), a dash, two digits, a letter.
        _bare(("SH-", "SBM", "IS1"), "Sharp", then=r"\d"),
        _bare("SH", "Sharp", then=r"\d{3}"),
        Rule("SHARP-", "Sharp", "{rest}", "{token}", nocase=False),
        _bare(("F-0", "F-1", "FJL"), "Fujitsu", then=r"\d"),
        _bare("N-0", "Nec", then=r"\d"),
        _bare("P-0", "Panasonic", then=r"\d"),
        _bare("T-0", "Toshiba", then=r"\d"),
        _bare(("C51", "C52", "KYL"), "Kyocera", then=r"\d"),
        # Other brands, most with their name in front.
        Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}", then=r"\d+", keep=True),
        Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}"),
        Rule("vivo", "vivo", sep=REQ_SEP),
        Rule("TECNO", "Tecno", "{rest}", "TECNO {rest}", sep=REQ_SEP),
        Rule("Infinix", "Infinix", sep=REQ_SEP),
        Rule("itel", "Itel", sep=REQ_SEP),
        Rule("ARCHOS", "Archos"),
        Rule("AN", "Archos", "{token}", "Archos {token}", nocase=False, sep=NO_SEP, then=r"\d{1,2}[A-Z]*G\d[A-Z]?$"),
        Rule("Lava", "Lava", sep=REQ_SEP),
        Rule("Iris", "Lava", "Iris {rest}", "Iris {rest}"),
        Rule("Prestigio", "Prestigio"),
        *(Rule(series, "Prestigio", "{token}", "Prestigio {token}", nocase=False, sep=NO_SEP, then=r"\d{4}")
          for series in ("PAP", "PMP")),
        Rule("Fly", "Fly", "{rest}", "{spelled} {rest}", sep=REQ_SEP),
        _bare("IQ", "Fly", then=r"[ \d]"),
        Rule("Coolpad", "Coolpad", "{rest}", "{rest}"),
        Rule("Hisense", "Hisense"),
        Rule(("HS-", "EG9", "EG6"), "Hisense", "{token}", "Hisense {token}", sep=NO_SEP),
        Rule("Medion", "Medion"),
        Rule("Odys", "Odys"),
        Rule("Wiko", "Wiko"),
        Rule(("CINK", "BARRY", "DARKFULL", "DARKNIGHT", "DARKMOON", "DARKSIDE", "STAIRWAY", "RAINBOW"),
             "Wiko", "{token}", "Wiko {token}", sep=NO_SEP),
        Rule("GiONEE", "Gionee", "{rest}", "{spelled} {rest}"),
        Rule("GN", "Gionee", "{token}", "Gionee {token}", nocase=False, sep=NO_SEP, then=r"\d"),
        Rule("Allview", "Allview", "{rest}", "{token}"),
        Rule("Blu", "Blu", sep=REQ_SEP),
        Rule("Xolo", "Xolo"),
        Rule("Karbonn", "Karbonn", "{rest}", "{rest}"),
        Rule("Spice", "Spice"),
        Rule("Intex", "Intex"),
        _bare("Aqua", "Intex", nocase=True),
        Rule("Zopo", "Zopo"),
        _bare("ZP", "Zopo", then=r"\d"),
        Rule("ThL", "Thl", "{rest}", "ThL {rest}"),
        Rule("Polaroid", "Polaroid"),
        _bare("MIDC", "Polaroid"),
        Rule("Yarvik", "Yarvik"),
        Rule("Toshiba", "Toshiba"),
        Rule("AT", "Toshiba", "{token}", "Toshiba {token}", nocase=False, sep=NO_SEP, then=r"\d"),
        Rule("Pantech", "Pantech"),
        Rule(("IM-A", "IM-T", "SKY_IM-"), "Pantech", "{token}", "Pantech {token}", nocase=False, sep=NO_SEP),
        _bare(("ADR8", "ADR9"), "Pantech"),
        Rule("Dell", "Dell"),
        Rule("i-mobile", "imobile", "{rest}", "i-mobile {rest}"),
        Rule("MID", "CobyKyros", "{token}", "CobyKyros {token}", nocase=False, sep=NO_SEP, then=r"\d{4}"),
        _bare("MID", "Mpman", then=r"\d+C$"),
        _bare("MID", "Manta", then=r"\d{2,3}S?$"),
        _bare("MP", "Mpman", then=r"\d{3}"),
        Rule("POV", "POV"),
        _bare(_series("U"), "Cube", then=r"\dGT"),
        Rule(("M-MP", "M-PP"), "Mediacom", "{token}", "Mediacom {token}", nocase=False, sep=NO_SEP),
        Rule("Celkon", "Celkon", "{rest}", "{rest}"),
        _bare("MOMO", "Ployer", then=r"\d"),
        Rule(("BC", "LC", "RC"), "3Q", "{token}", "3Q {token}", nocase=False, sep=NO_SEP, then=r"\d{4}[A-Z]+$"),
        _bare(("NetTAB", "NT-"), "IconBIT"),
        Rule("AIRIS", "Airis", "{rest}", "{rest}"),
        _bare("OnePAD", "Airis"),
        Rule("bq ", "bq", "{rest}", "{spelled} {rest}"),
        _bare("Next", "Nextbook", then=r"\d"),
        _bare("Nextbook", "Nextbook"),
        Rule("MyPhone", "MyPhone"),
        _bare("MyPad", "MyPhone"),
        Rule("IMO", "IMO", "{rest}", "{spelled} {rest}"),
        _bare(("SPX-", "SP-1"), "Simvalley"),
        Rule("AP-", "Assistant", "{token}", "Assistant {token}", nocase=False, sep=NO_SEP, then=r"\d"),
        Rule("TP", "ionik", "{token}", "ionik {token}", nocase=False, sep=NO_SEP, then=r"\d+(?:\.\d)?-\d"),
        Rule("TCL", "TCL"),
        _bare(("TAC-", "TAD-"), "Denver"),
        Rule("CUBOT", "Cubot", "{rest}", "{rest}"),
        _bare("GSmart", "Gigabyte"),
        Rule("QMobile", "Qmobile"),
        _bare(("TM-7", "TM-9", "TB-7"), "Texet"),
        Rule("Woxter", "Woxter"),
        Rule("Aoson", "Aoson"),
        Rule("PICOpad", "Axioo", "{token}", "Axioo {token}", sep=NO_SEP),
        Rule("Cat ", "Cat"),
        Rule("K-Touch", "Ktouch", "{rest}", "K-Touch {rest}"),
        Rule("Lemon", "Lemon"),
        Rule("Philips", "Philips"),
        _bare("TM-MID", "Touchmate"),
        _bare("ViewPad", "Viewsonic"),
        Rule("Cloudfone", "Cloudfone", "{token}", "{token}", sep=NO_SEP),
        _bare("CloudPad", "Cloudfone"),
        Rule("Vodafone", "Vodafone"),
        Rule("GOCLEVER", "GoClever"),
        Rule("HP ", "HP", nocase=False),
        Rule("ImPAD", "Impression", "ImPAD {rest}", "ImPAD {rest}"),
        Rule("MITO", "Mito", "{rest}", "{spelled} {rest}"),
        _bare("Cynus", "Mobistel"),
        _bare(("YPY", "Ypy"), "Positivo"),
        Rule("TREQ", "Treq", "{rest}", "{token}"),
        Rule(("PAD", "TelePAD"), "Xoro", "{token}", "Xoro {token}", nocase=False, sep=NO_SEP, then=r" ?\d"),
        Rule("AMOI", "Amoi"),
        Rule("DOOV", "DOOV"),
        _bare("TPC-", "Jaytech"),
        _bare(("Novo", "NOVO", "novo"), "Ainol"),
        Rule("Ainol", "Ainol", "{rest}", "Ainol {rest}"),
        _bare("PMID", "Polaroid", then=r"\d"),
        _bare("NXM", "Nextbook", then=r"\d"),
        Rule("SmartPad", "Mediacom", "{token}", "Mediacom {token}", nocase=False, sep=NO_SEP),
        Rule("Q", "Xolo", "{token}", "Xolo {token}", nocase=False, sep=NO_SEP, then=r"[1-9]00X?$"),
        Rule(("Streak", "XCD"), "Dell", "{token}", "Dell {token}", nocase=False, sep=NO_SEP),
        _bare(("BNTV", "BNRV"), "Nook"),
        Rule("AT-AS", "Wolfgang", "{token}", "Wolfgang {token}", nocase=False, sep=NO_SEP),
        _bare(("EV-S", "KM-S", "km-S"), "KTtech"),
        Rule("Informer", "Informer"),
        Rule("CAPTIVA", "Captiva"),
        _bare(("AQUILA", "Clanga", "RAPAX"), "Cmx"),
        _bare("FreeTAB", "Modecom"),
        Rule("MODECOM", "Modecom", "{rest}", "{token}"),
        _bare("MW0", "Aoc", then=r"\d"),
        Rule(("i-STYLE", "i-style", "I-STYLE"), "imobile", "{token}", "i-mobile {token}", nocase=False, sep=NO_SEP),
        Rule("Blaupunkt", "Blaupunkt"),
        Rule("Endeavour", "Blaupunkt", "{token}", "Blaupunkt {token}", nocase=False, sep=NO_SEP),
        _bare("JY-", "Jiayu"),
    ),
)


def _phone(prefix, brand, **options):
    """A feature-phone vendor: model is the word after its name, family is "<brand> <model>"."""
    options.setdefault("word", True)
    return Rule(prefix, brand, "{rest}", brand + " {rest}", **options)


# Vendor words anywhere in a UA that has no Android comment: feature phones
# ("SAMSUNG-SGH-A801", "NokiaN95/12.0", "MOT-V300/..."), Symbian, BREW and
# Windows CE devices, and apps that name the handset. uap-core writes these
# families as "<brand> <model>" (Sony Ericsson's as "Ericsson <model>").
PHONES = Table(rules=(
    _phone(("SAMSUNG", "SEC"), "Samsung", then=r"(?!Browser)[A-Za-z0-9+-]+", keep=True),
    *(Rule(series, "Samsung", "{token}", "Samsung {token}", nocase=False, sep=NO_SEP, then=r"[A-Za-z]?\d",
           word=True) for series in ("SGH-", "SCH-", "SPH-", "GT-", "SM-")),
    _phone("Nokia", "Nokia", then=r"[\w.-]+", keep=True),
    _phone(("LGE LG-", "LGE", "LG"), "LG", then=r"\w+", keep=True),
    _phone(("MOT", "Motorola"), "Motorola", then=r"[\w.]+(?:-\w+)?", keep=True),
    Rule("SonyEricsson", "SonyEricsson", "{rest}", "Ericsson {rest}", then=r"[\w-]+", keep=True),
    _phone("SIE-", "Siemens", nocase=False, then=r"\w+", keep=True),
    Rule("BlackBerry", "BlackBerry", "{rest}", "BlackBerry {rest}", then=r"\d+", keep=True),
    _phone("Alcatel", "Alcatel", then=r"[\w-]+", keep=True),
    # HTC's names run over several capitalised words ("HTC Desire S", "HTC One X").
    _phone("HTC", "HTC", then=r"[\w-]+(?: (?!Mozilla|Profile|PROFILE|Build|Linux|Android)[A-Z0-9][\w+-]*)*",
           keep=True, word=False),
    _phone("Huawei", "Huawei", then=r"(?!Browser)[A-Za-z]\w*", keep=True),
    *(_phone(prefix, brand, then=r"\w+", keep=True) for prefix, brand in (
        ("Pantech", "Pantech"), ("Amoi", "Amoi"), ("ZTE", "ZTE"), ("Lenovo", "Lenovo"), ("ASUS", "Asus"),
        ("Sharp", "Sharp"), ("Philips", "Philips"), ("Sagem", "Sagem"), ("Panasonic", "Panasonic"),
        (("Kyocera", "KWC-"), "Kyocera"), ("Sanyo", "Sanyo"), ("BIRD", "Bird"), ("Dell", "Dell"),
        ("i-mate", "i-mate"))),
    _phone("Palm", "Palm", then=r"\d"),
    Rule("sprd-", "sprd", "{rest}", "sprd {rest}", word=True),
))
