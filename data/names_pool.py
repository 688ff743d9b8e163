"""Name and place pools for the synthetic roster generator.

Pools are ordered by how common the item is; the generator gives them Zipf-like weights, so
popular names repeat a lot (namesakes are what makes linkage on names hard). Place stems
deliberately contain numerals (二道沟, 八家子) that a normaliser must leave alone.
"""
from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def load_surnames() -> dict[str, list[tuple[str, float]]]:
    """Surname weights by group from surnames.csv (approximate per-mille: han of all, korean of Korean-Chinese)."""
    groups: dict[str, list[tuple[str, float]]] = {}
    with open(DATA_DIR / "surnames.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups.setdefault(row["group"], []).append((row["surname"], float(row["weight"])))
    return groups


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Whole given names, most common first. "old" suits people born before ~1980, "new" after ~1990.
MALE_NAMES_OLD = _words("""
伟 军 勇 强 刚 平 明 斌 辉 波 杰 涛 磊 峰 建国 建华 建军 国华 国庆 志强 志刚 海涛 春生 立新
永胜 德胜 福林 玉林 卫东 红军 振华 宝山 长海 庆春 凤山 德才 金龙 成林 洪涛 大勇 国强 建平
文斌 永刚 树林 长林 玉山 俊峰 学文 国军 海军 志明 新民 宏伟 福贵 忠诚 喜春 洪亮 德福 广军
""")
MALE_NAMES_NEW = _words("""
浩 宇 鹏 超 鑫 帅 磊 博 晨 阳 子轩 浩然 宇航 俊杰 博文 天宇 梓豪 一鸣 家豪 泽宇 宇轩 浩宇
子豪 皓轩 俊熙 明轩 睿 旭 凯 健 航 阳阳 鹏飞 佳豪 思远 宏宇 文博 欣然 嘉乐 子墨
""")
FEMALE_NAMES_OLD = _words("""
丽 敏 静 艳 娟 霞 芳 燕 玲 红 梅 英 秀英 秀兰 桂兰 桂英 玉兰 玉珍 淑珍 淑华 淑兰 凤兰 凤英
秀珍 秀云 玉梅 桂芝 丽华 丽娟 春梅 海燕 晓燕 红梅 淑芬 玉芝 凤琴 桂珍 秀芝 凤霞 丽君 玉华
""")
FEMALE_NAMES_NEW = _words("""
婷 颖 雪 慧 洁 丹 晶 欣 悦 婷婷 丽丽 欣怡 梓涵 诗涵 子涵 雨涵 佳怡 思雨 雨欣 佳琪 梦瑶 可馨
雨桐 紫涵 一诺 诗雨 思琪 欣妍 佳欣 晓雪 雪莹 文静 美琪 心怡 若曦 嘉怡
""")
# Single characters for composed names, most common first.
MALE_CHARS = _words("""
国 建 文 明 志 永 海 春 玉 德 金 宝 军 成 庆 福 立 东 伟 华 林 峰 强 刚 宏 斌 俊 杰 浩 宇 鹏 飞
龙 涛 超 辉 亮 勇 旭 博 轩 泽 睿 晨 阳 磊 鑫 凯 帅 健 家 子 天 一 振 长 兴 贵 生 山 清 学 忠 树
喜 禄 仁 义 彬 武 波 江 平 安 胜 利 广 晓 新 洪 铁 柱 双 小 大 佳 嘉 思 铭 航 瑞 奇 远 豪 然
""")
FEMALE_CHARS = _words("""
秀 丽 玉 桂 淑 凤 英 兰 珍 芳 红 梅 艳 霞 燕 华 玲 敏 静 娟 婷 雪 慧 颖 洁 丹 萍 琴 云 莉 晶
欣 怡 佳 雨 思 涵 诗 梦 悦 月 春 晓 文 美 金 荣 翠 芬 芝 香 君 琳 蕾 倩 璐 宁 爽 莹 楠 鑫 薇
瑶 琪 彤 雅 馨 妍 可 心 一 子 紫 若 海 亚 立 小 冬 桃 杏 菊 荷 素 影
""")
# Characters that lead a composed given name but do not end one (小明, not 明小).
LEADING_ONLY_CHARS = "小大子一可心紫若亚晓思天长双家嘉佳"
# Extra common characters: the supply of same-pinyin replacements for homophone typos.
COMMON_CHARS = """
的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着
事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见
只主没公从已知民点意外理现实加量全都力体制机当使开间位市部门业务合关理论义各特已边及经向走给知
立利力历励李礼丽莉黎离梨里理粒例隶哩厉栗俐伟维卫为位未委威微薇玮炜韦唯惟围违魏味慰胃谓喂卫纬
华化话花画划滑哗桦骅军君均钧俊峻骏郡竣菌强墙蔷枪抢羌腔刚钢纲岗港缸杠明名鸣铭茗冥命平萍评凭瓶屏
苹坪秀绣袖修羞朽锈英应鹰婴樱迎盈营赢影颖硬映兰蓝篮澜岚栏拦懒烂览珍真针贞侦震镇阵振帧臻斌彬宾滨
缤冰兵丙饼病并杰洁结节捷街阶接姐解介界借戒涛滔桃陶淘逃讨套磊垒雷蕾累泪类峰锋丰封蜂风枫疯冯逢缝
凤奉俸艳燕雁彦宴焰岩言颜严延研盐演眼掩娟捐卷倦眷绢鹃霞峡侠狭遐瑕下夏吓芳方房防访纺仿放红宏洪虹
鸿弘泓轰哄梅玫眉媒煤枚没美每妹媚静敬境镜竞净径晶经精京惊睛井景警颈丹单担胆旦但诞淡弹蛋慧惠会汇
绘辉徽灰挥回毁悔晖卉云芸运韵允孕匀耘玉育欲遇域预与语雨宇羽禹愉渔渝鱼娱雪学穴血薛靴婷庭停挺亭霆
廷蜓欣心新辛芯馨薪信鑫星兴刑行形型醒幸性姓雅亚压鸭呀牙芽哑涯崖娅悦越月岳阅跃乐约曰粤钥怡仪宜移遗
疑姨夷伊依衣医一壹以已意易益义亿艺议异逸翼奕毅忆佳家加嘉夹甲价假架驾嫁琪旗棋奇其齐骑祈期欺七妻
栖晨辰尘沉陈臣趁称衬春纯唇淳醇椿蠢鹏朋棚彭蓬篷捧碰飞非菲妃啡肥匪费沸肺废超朝潮巢吵炒抄钞辉会灰
浩好号耗昊豪毫郝壕嚎宇雨语予与屿轩宣萱喧玄悬旋选炫绚泽则责择贼睿瑞锐蕊芮阳杨洋扬羊仰养氧样漾鑫
帅率摔甩蟀博伯泊勃搏薄柏驳舶波健建剑件见键坚监兼渐荐舰箭涵寒含韩函汉翰汗旱憾诗师施失湿狮尸十石
时识实拾食史使始驶士世市式事试是视室适誓释梦孟盟萌蒙猛涵瑶遥摇谣姚尧窑药要耀琳林临邻淋霖磷麟凛
霖岚彤童同桐铜通统痛妍研颜言燕晏宴雁馨星心新芯萱怡冰露路鹿陆录禄璐芦卢炉鲁娜纳那拿哪钠呐
"""


def common_chars() -> tuple[str, ...]:
    """Distinct characters of COMMON_CHARS in first-seen order."""
    return tuple(dict.fromkeys(ch for ch in COMMON_CHARS if not ch.isspace()))


# Minority (Uyghur-style) names written with a middle dot: given·father.
MINORITY_GIVEN_MALE = _words("买买提 艾力 阿不都 吐尔逊 努尔 依明 艾尔肯 库尔班 伊力 麦麦提 热合曼 阿卜杜拉 塔依尔")
MINORITY_GIVEN_FEMALE = _words("阿依古丽 古丽娜尔 热依拉 帕提古丽 努尔古丽 阿依夏木 米热古丽 祖丽皮亚 阿米娜 海丽其汗")
MINORITY_FATHER = _words("买买提 吐尔逊 阿不都热合曼 艾力 库尔班 依明 托合提 阿布都 热西提 塔依尔 肉孜 玉素甫")
MIDDLE_DOT = "\u00b7"
MIDDLE_DOT_VARIANTS = ("\u2022", "\u30fb", ".", " ", "", "\uff0e", "\u2027")

# Look-alike pairs (typed or OCR'd wrongly; four-corner codes coincide).
LOOKALIKE_PAIRS = _words("""
王玉 未末 己已 白自 季李 大太 天夭 日曰 人入 土士 千干 凤风 宇字 余佘 历厉 明朋 晴睛 冶治
金全 贝见 鸟乌 刀力 候侯 崇祟 兔免 徐涂 淑椒 春椿
""")

# Place-name stems. Town stems take 镇 or 乡, village stems 村, street stems 街道, community 社区.
TOWN_STEMS = _words("""
二道沟 三道沟 二道 三岔河 四家子 五棵树 六道河 八家子 九间房 土桥 刘家 黑林子 万昌 双河 新立城 合隆
兴隆 太平 红石 大岭 小城 靠山 青山 秀水 保安 弓棚 五台 泉眼 八宝 大孤山 永安 长岭子 新安 三家子
四合 七个顶子 十八道沟 黄松甸 天岗 白石山 二龙 四方台 大屯 孤店子 哈拉海 东风 前进 朝阳
""")
STREET_STEMS = _words("""
红旗 桂林 永昌 重庆 南湖 清和 湖西 富锋 前进 站前 北站 东站 西站 长通 临河 东盛 民康 南岭 自强
鸿城 曙光 新春 春城 北湖 兴华 团山 繁荣 光明 和平 胜利 建设 新兴 东兴 西长春 二道河子 八里堡
""")
VILLAGE_STEMS = _words("""
二道沟 三道沟 八家子 四家子 五家子 六家子 七家子 九家子 十家堡 两家子 双山 太平 永安 新立 长山
合心 东兴 前进 红旗 胜利 友谊 富民 新民 民主 团山 石头 杨树 柳树 李家 王家 张家 刘家 大房身
小房身 腰站 东岗 西岗 南岗 北岗 三合 五星 六合 永丰 丰收 和平 新华 光明 兴隆 保安 荒山 黄花
青山 三道岗 四道岗 八里营 九龙 十三家子
""")
COMMUNITY_STEMS = _words("""
明珠 幸福 和平 阳光 康乐 新华 红旗 北湖 南湖 春光 富民 金色 华苑 锦绣 长青 东风 西苑 绿园 嘉和
安居 福安 永兴 铁北 兴业 翠园 文化 建工 民丰 东三 二道街
""")
ROAD_STEMS = _words("""
人民 自由 解放 建设 延安 西安 东风 工农 红旗 亚泰 卫星 繁荣 普阳 开运 二道 三马 四马 前进 同志
新民 湖光 永昌 珠江 临河 南京 北京 重庆 清华 长白山 松江 吉林 春城 东盛 全安 大经 西朝阳
""")
ROAD_SUFFIXES = ("路", "街", "大街", "大路")
TUN_STEMS = _words("王家 李家 张家 刘家 三家子 腰 前 后 东 西 小房身 大房身 孟家 于家 赵家 高家 二道 五间房")

# Report areas outside Jilin for migrant cases (the 朝阳区/铁西区 name clashes are deliberate).
OTHER_PROVINCE_AREAS = (
    ("110105", "北京市朝阳区"),
    ("210102", "辽宁省沈阳市和平区"),
    ("210106", "辽宁省沈阳市铁西区"),
    ("230102", "黑龙江省哈尔滨市道里区"),
    ("150502", "内蒙古自治区通辽市科尔沁区"),
    ("370102", "山东省济南市历下区"),
    ("310115", "上海市浦东新区"),
    ("120101", "天津市和平区"),
)

# Old county codes still printed on IDs: old code -> current code, last year the old code was issued.
OLD_ID_CODES = (
    ("220381", "220184", 2019),
    ("220181", "220113", 2013),
    ("220625", "220605", 2005),
    ("220724", "220781", 2012),
)
# Current code whose old name still appears in addresses: 浑江区 was 八道江区 until 2009.
OLD_COUNTY_NAMES = (("220602", "八道江区"),)

# Prefecture weights for where households live (长春 and 吉林 are the big ones).
PREFECTURE_WEIGHTS = {
    "220100": 0.30, "220200": 0.18, "220300": 0.09, "220400": 0.05, "220500": 0.08,
    "220600": 0.05, "220700": 0.09, "220800": 0.07, "222400": 0.09,
}
