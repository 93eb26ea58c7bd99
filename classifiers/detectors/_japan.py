"""Japanese geography shared by the detectors (the 47 prefectures, in JIS X 0401 order)."""

from __future__ import annotations

PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)


def _municipalities() -> frozenset[str]:
    """Every municipality as written in addresses: Japan Post's names (横浜市港南区, 白井市,
    上北郡横浜町), designated cities without their ward (横浜市) and towns and villages without
    their 郡 (横浜町). Source and licence: ``classifiers/data/municipalities.tsv``."""
    from classifiers.detectors._vocab import rows

    names: set[str] = set()
    for _, city in rows("municipalities.tsv"):
        names.add(city)
        if "市" in city[:-1] and city.endswith("区"):
            names.add(city[: city.index("市") + 1])  # 横浜市 of 横浜市港南区
        if "郡" in city[:-1] and city.endswith(("町", "村")):
            names.add(city[city.index("郡") + 1 :])  # 横浜町 of 上北郡横浜町
    return frozenset(names)


#: Municipalities (市区町村) of Japan Post's postal code data, with the short forms people write.
MUNICIPALITIES: frozenset[str] = _municipalities()


def municipality_at(text: str) -> str | None:
    """The longest municipality of :data:`MUNICIPALITIES` that ``text`` starts with.

    >>> municipality_at("横浜市港南区日野"), municipality_at("白井市堀込"), municipality_at("東村山市本町")
    ('横浜市港南区', '白井市', '東村山市')
    """
    for n in range(min(10, len(text)), 1, -1):
        if text[:n] in MUNICIPALITIES:
            return text[:n]
    return None


def municipality_before(text: str, end: int) -> str | None:
    """The longest municipality of :data:`MUNICIPALITIES` that ends at ``text[end]``.

    >>> municipality_before("弊社は横浜市港南区日野", 9), municipality_before("東大和市", 4)
    ('横浜市港南区', '東大和市')
    """
    for n in range(min(10, end), 1, -1):
        if text[end - n : end] in MUNICIPALITIES:
            return text[end - n : end]
    return None
