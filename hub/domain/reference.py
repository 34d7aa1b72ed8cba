"""Reference data the domain validates against: the city's 38 districts and counties."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.errors import InvalidInput


@dataclass(frozen=True)
class District:
    code: str
    name: str
    name_en: str
    county: bool


_DISTRICTS = [
    ("500101", "万州区", "Wanzhou"),
    ("500102", "涪陵区", "Fuling"),
    ("500103", "渝中区", "Yuzhong"),
    ("500104", "大渡口区", "Dadukou"),
    ("500105", "江北区", "Jiangbei"),
    ("500106", "沙坪坝区", "Shapingba"),
    ("500107", "九龙坡区", "Jiulongpo"),
    ("500108", "南岸区", "Nan'an"),
    ("500109", "北碚区", "Beibei"),
    ("500110", "綦江区", "Qijiang"),
    ("500111", "大足区", "Dazu"),
    ("500112", "渝北区", "Yubei"),
    ("500113", "巴南区", "Banan"),
    ("500114", "黔江区", "Qianjiang"),
    ("500115", "长寿区", "Changshou"),
    ("500116", "江津区", "Jiangjin"),
    ("500117", "合川区", "Hechuan"),
    ("500118", "永川区", "Yongchuan"),
    ("500119", "南川区", "Nanchuan"),
    ("500120", "璧山区", "Bishan"),
    ("500151", "铜梁区", "Tongliang"),
    ("500152", "潼南区", "Tongnan"),
    ("500153", "荣昌区", "Rongchang"),
    ("500154", "开州区", "Kaizhou"),
    ("500155", "梁平区", "Liangping"),
    ("500156", "武隆区", "Wulong"),
    ("500229", "城口县", "Chengkou"),
    ("500230", "丰都县", "Fengdu"),
    ("500231", "垫江县", "Dianjiang"),
    ("500233", "忠县", "Zhongxian"),
    ("500235", "云阳县", "Yunyang"),
    ("500236", "奉节县", "Fengjie"),
    ("500237", "巫山县", "Wushan"),
    ("500238", "巫溪县", "Wuxi"),
    ("500240", "石柱土家族自治县", "Shizhu"),
    ("500241", "秀山土家族苗族自治县", "Xiushan"),
    ("500242", "酉阳土家族苗族自治县", "Youyang"),
    ("500243", "彭水苗族土家族自治县", "Pengshui"),
]

DISTRICTS: dict[str, District] = {
    code: District(code, name, name_en, county=name.endswith("县"))
    for code, name, name_en in _DISTRICTS
}


def district(code: str, field: str = "district") -> District:
    """The district with this code, or a refusal that says which codes exist."""
    found = DISTRICTS.get(code)
    if found is None:
        raise InvalidInput(
            f"unknown district code {code!r}: expected one of the city's 38 codes, "
            f"such as 500103 (渝中区); query `districts` for the list",
            field,
        )
    return found
