"""The demo catalogue: categories, invented brands, product types, planted rules.

The catalogue is small and bounded (about 800 products whatever the number
of customers), so it is built once per seed with plain pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._personas import CATEGORIES

# category -> invented brands
BRANDS: dict[str, tuple[str, ...]] = {
    "electronics": ("Voltix", "Nexora", "Quantel", "Lumatek", "Zentro"),
    "fashion": ("Marlowe", "Urbanee", "Velora", "Kestrel"),
    "home": ("Hearthly", "Nestwell", "Casamora", "Oakhollow"),
    "beauty": ("Lunessa", "Purelle", "Glowmint", "Aurelis"),
    "sports": ("Stridex", "Peakform", "Kinetro", "Trailbound"),
    "books": ("Inkwell", "Paperlane", "Bramble"),
    "grocery": ("Harvestly", "Millmeadow", "Goldleaf"),
    "toys": ("Tinkertot", "Wonderbloc", "Puddlepip"),
}

# category -> (type in English, type in Chinese, median list price)
TYPES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "electronics": (
        ("Smartphone", "智能手机", 450), ("Laptop", "笔记本电脑", 900), ("Tablet", "平板电脑", 350),
        ("Headphones", "耳机", 80), ("Wireless Mouse", "无线鼠标", 25), ("Keyboard", "键盘", 45),
        ("Phone Case", "手机壳", 15), ("Screen Protector", "钢化膜", 10), ("Laptop Sleeve", "电脑包", 25),
        ("Charger", "充电器", 20), ("Camera", "相机", 500), ("Memory Card", "存储卡", 18),
        ("Game Console", "游戏机", 400), ("Controller", "手柄", 55), ("Smartwatch", "智能手表", 200),
        ("Speaker", "音箱", 70),
    ),
    "fashion": (
        ("T-Shirt", "T恤", 18), ("Jeans", "牛仔裤", 55), ("Dress", "连衣裙", 60), ("Jacket", "夹克", 110),
        ("Sneakers", "运动鞋", 80), ("Scarf", "围巾", 22), ("Hoodie", "卫衣", 45), ("Belt", "皮带", 25),
        ("Handbag", "手提包", 90), ("Socks", "袜子", 8),
    ),
    "home": (
        ("Coffee Maker", "咖啡机", 85), ("Bed Sheets", "床单", 50), ("Pillowcase", "枕套", 15),
        ("Towel Set", "毛巾套装", 30), ("Lamp", "台灯", 40), ("Frying Pan", "平底锅", 35),
        ("Knife Set", "刀具套装", 60), ("Vase", "花瓶", 25), ("Candle", "香薰蜡烛", 12),
        ("Storage Box", "收纳盒", 18), ("Coffee Filters", "咖啡滤纸", 5),
    ),
    "beauty": (
        ("Shampoo", "洗发水", 9), ("Conditioner", "护发素", 9), ("Face Cream", "面霜", 28),
        ("Lipstick", "口红", 18), ("Perfume", "香水", 65), ("Nail Polish", "指甲油", 8),
        ("Nail Polish Remover", "卸甲水", 5), ("Sunscreen", "防晒霜", 14), ("Hair Dryer", "吹风机", 45),
        ("Body Lotion", "身体乳", 12),
    ),
    "sports": (
        ("Running Shoes", "跑鞋", 95), ("Sports Socks", "运动袜", 10), ("Yoga Mat", "瑜伽垫", 30),
        ("Yoga Block", "瑜伽砖", 12), ("Dumbbells", "哑铃", 40), ("Water Bottle", "水壶", 15),
        ("Tennis Racket", "网球拍", 80), ("Bike Helmet", "骑行头盔", 55), ("Fitness Tracker", "运动手环", 70),
        ("Gym Bag", "健身包", 35),
    ),
    "books": (
        ("Novel", "小说", 14), ("Cookbook", "菜谱", 25), ("Travel Guide", "旅行指南", 20),
        ("Picture Book", "绘本", 10), ("Biography", "传记", 18), ("Comic", "漫画", 12),
        ("Notebook", "笔记本", 7), ("Science Book", "科普书", 28),
    ),
    "grocery": (
        ("Coffee Beans", "咖啡豆", 14), ("Green Tea", "绿茶", 8), ("Pasta", "意大利面", 3),
        ("Pasta Sauce", "意面酱", 4), ("Olive Oil", "橄榄油", 11), ("Chocolate", "巧克力", 4),
        ("Spice Set", "香料套装", 18), ("Snack Box", "零食礼盒", 15), ("Honey", "蜂蜜", 9),
        ("Cereal", "麦片", 5),
    ),
    "toys": (
        ("Train Set", "火车玩具", 45), ("Batteries", "电池", 7), ("Puzzle", "拼图", 18),
        ("Building Blocks", "积木", 35), ("Doll", "娃娃", 25), ("Board Game", "桌游", 30),
        ("Plush Bear", "毛绒熊", 20), ("RC Car", "遥控车", 55), ("Art Kit", "绘画套装", 22),
    ),
}

VARIANTS = ("Classic", "Pro", "Lite", "Plus", "Max", "Mini", "Eco", "Deluxe")
VARIANT_PRICE = (1.0, 1.35, 0.8, 1.15, 1.5, 0.75, 0.9, 1.6)
VARIANTS_ZH = ("经典款", "专业版", "轻薄款", "升级版", "旗舰版", "迷你款", "环保款", "豪华版")

ADJECTIVES = ("dependable", "stylish", "lightweight", "durable", "elegant", "practical", "compact", "premium")

# Non-merchandise codes: kept for revenue, left out of baskets.
NON_MERCHANDISE = (
    ("SHIP-STD", "Standard shipping", 4.95),
    ("SHIP-EXP", "Express shipping", 9.95),
    ("GIFT-WRAP", "Gift wrapping", 3.5),
)
FREE_SHIPPING_FROM = 50.0


@dataclass(frozen=True)
class PlantedRule:
    """Buying ``antecedent`` adds all ``consequents`` to the same order with ``probability``."""

    rule_id: int
    antecedent: str  # product type
    consequents: tuple[str, ...]  # product types (same brand when in the same category)
    probability: float


PLANTED_RULES: tuple[PlantedRule, ...] = (
    PlantedRule(1, "Smartphone", ("Phone Case", "Screen Protector"), 0.55),
    PlantedRule(2, "Laptop", ("Laptop Sleeve", "Wireless Mouse"), 0.45),
    PlantedRule(3, "Camera", ("Memory Card",), 0.6),
    PlantedRule(4, "Game Console", ("Controller",), 0.5),
    PlantedRule(5, "Running Shoes", ("Sports Socks",), 0.5),
    PlantedRule(6, "Yoga Mat", ("Yoga Block",), 0.45),
    PlantedRule(7, "Coffee Maker", ("Coffee Beans", "Coffee Filters"), 0.5),
    PlantedRule(8, "Bed Sheets", ("Pillowcase",), 0.5),
    PlantedRule(9, "Shampoo", ("Conditioner",), 0.6),
    PlantedRule(10, "Nail Polish", ("Nail Polish Remover",), 0.4),
    PlantedRule(11, "Pasta", ("Pasta Sauce",), 0.55),
    PlantedRule(12, "Train Set", ("Batteries",), 0.5),
)
# Share of merchandise lines that are an anchor product (the antecedent of a
# planted rule), so every rule reaches a support of about 0.5% of baskets.
ANCHOR_LINE_SHARE = 0.10


def build_catalogue(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products (canonical columns plus private helper columns) and planted rules.

    Helper columns: ``type_en``, ``type_zh``, ``name_zh``, ``popularity``,
    ``cat_code``; merchandise rows come first, sorted by category then price
    (the basket sampler picks a price percentile within a category).
    """
    frames = []
    for ci, cat in enumerate(CATEGORIES):
        brands = BRANDS[cat]
        types = TYPES[cat]
        t_idx = np.repeat(np.arange(len(types)), len(brands))
        b_idx = np.tile(np.arange(len(brands)), len(types))
        n_var = rng.integers(1, 4, size=len(t_idx))  # 1-3 variants per type and brand
        t_idx, b_idx = np.repeat(t_idx, n_var), np.repeat(b_idx, n_var)
        # distinct variants within a (type, brand): a random start, consecutive
        start = np.repeat(rng.integers(0, len(VARIANTS), size=len(n_var)), n_var)
        within = np.arange(len(t_idx)) - np.repeat(np.cumsum(n_var) - n_var, n_var)
        v_idx = (start + within) % len(VARIANTS)
        type_en = np.array([t[0] for t in types], dtype=object)[t_idx]
        type_zh = np.array([t[1] for t in types], dtype=object)[t_idx]
        median = np.array([t[2] for t in types])[t_idx]
        brand_factor = np.exp(rng.normal(0.0, 0.2, size=len(brands)))[b_idx]
        price = median * brand_factor * np.array(VARIANT_PRICE)[v_idx] * np.exp(rng.normal(0.0, 0.25, len(t_idx)))
        price = np.maximum(np.floor(price) + np.where(price > 20, 0.99, 0.49), 0.99)
        brand = np.array(brands, dtype=object)[b_idx]
        frames.append(pd.DataFrame({
            "category": cat, "cat_code": ci, "brand": brand, "type_en": type_en, "type_zh": type_zh,
            "variant": np.array(VARIANTS, dtype=object)[v_idx],
            "variant_zh": np.array(VARIANTS_ZH, dtype=object)[v_idx], "price": price,
            "adjective": np.array(ADJECTIVES, dtype=object)[rng.integers(0, len(ADJECTIVES), len(t_idx))],
        }))
    p = pd.concat(frames, ignore_index=True)
    p = p.sort_values(["cat_code", "price", "type_en", "brand", "variant"], kind="stable", ignore_index=True)
    p["product_id"] = [f"P{i:05d}" for i in range(1, len(p) + 1)]
    p["name"] = p["brand"] + " " + p["type_en"] + " " + p["variant"]
    p["name_zh"] = p["brand"] + p["type_zh"] + p["variant_zh"]
    p["description"] = (
        p["name"] + ". A " + p["adjective"] + " " + p["type_en"].str.lower() + " by " + p["brand"]
        + " (" + p["category"] + ")."
    )
    p["popularity"] = np.exp(rng.normal(0.0, 1.0, len(p)))
    p["is_merchandise"] = True
    p["is_available"] = True

    rules, anchor_ids = _plant_rules(p, rng)
    # about 6% of products discontinued, never an anchor or a consequent
    protected = set(anchor_ids) | {c for ids in rules["consequent_product_ids"] for c in ids.split(",")}
    gone = (rng.random(len(p)) < 0.06) & ~p["product_id"].isin(protected).to_numpy()
    p.loc[gone, "is_available"] = False

    extra = pd.DataFrame({
        "product_id": [c for c, _, _ in NON_MERCHANDISE],
        "name": [n for _, n, _ in NON_MERCHANDISE],
        "price": [x for _, _, x in NON_MERCHANDISE],
        "description": [n + " (not a product)." for _, n, _ in NON_MERCHANDISE],
        "is_merchandise": False, "is_available": True, "cat_code": -1, "popularity": 0.0,
    })
    return pd.concat([p, extra], ignore_index=True), rules


def _plant_rules(p: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    """Pick one concrete product for each side of each planted rule."""
    rows, anchors = [], []
    for rule in PLANTED_RULES:  # a dozen rules
        cand = p.index[p["type_en"] == rule.antecedent].to_numpy()
        a = int(cand[rng.integers(0, len(cand))])
        cons = []
        for ctype in rule.consequents:
            pool = p.index[(p["type_en"] == ctype) & (p["brand"] == p.at[a, "brand"])].to_numpy()
            if len(pool) == 0:
                pool = p.index[p["type_en"] == ctype].to_numpy()
            cons.append(int(pool[rng.integers(0, len(pool))]))
        anchors.append(p.at[a, "product_id"])
        rows.append({
            "rule_id": rule.rule_id,
            "antecedent_product_id": p.at[a, "product_id"],
            "antecedent_name": p.at[a, "name"],
            "consequent_product_ids": ",".join(p.loc[cons, "product_id"]),
            "consequent_names": ",".join(p.loc[cons, "name"]),
            "planted_probability": rule.probability,
        })
    return pd.DataFrame(rows), anchors
