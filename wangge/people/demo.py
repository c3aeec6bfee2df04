"""Demo step: buildings, households and residents of the detailed districts.

Synthetic people with plausible shapes: an age pyramid close to Chengdu's (about 21% aged 60+),
households of about 2.5 people, vulnerable groups at plausible rates, addresses built from the
real street and community names, Chinese names from common surnames and given-name characters,
and ID numbers made by the project with Chengdu area codes and correct check digits.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import shapely
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from wangge.accounts.scope import SYSTEM
from wangge.demo.registry import DemoContext, demo_step
from wangge.people.crypto import Field, get_keyring
from wangge.people.enums import BuildingKind, CareLevel, HouseUse, Registration, Relation
from wangge.people.idcard import make_id_number
from wangge.people.models import (
    Building,
    CareAssessment,
    House,
    Resident,
    ResidentTag,
    Tag,
)
from wangge.people.pinyin import initials
from wangge.people.services import place_counts_refresh, tags_install
from wangge.regions.codes import prefix_filter
from wangge.regions.models import Grid, Region
from wangge.regions.synth import detailed_districts, sample_points

DEFAULT_RESIDENTS = {"district": 300_000, "city": 1_000_000}
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红梅玉兰文辉鑫宇浩然子涵欣怡梓轩雨萱"
    "俊杰思远晨曦嘉怡佳琪诗涵一鸣博文天佑雅婷慧琳婉清淑珍德福春燕秋菊冬梅海燕晓东"
)
ROADS = ["街", "路", "巷", "里"]
PHONE_PREFIXES = [
    "138",
    "139",
    "136",
    "137",
    "150",
    "151",
    "158",
    "177",
    "180",
    "186",
    "189",
    "199",
    "133",
    "153",
    "135",
]
# 5-year age bands 0–4 … 95–99: Chengdu-like shares (≈ 13% under 15, ≈ 21% aged 60+)
AGE_BANDS = np.array(
    [
        4.0,
        4.4,
        4.6,
        4.2,
        5.0,
        7.6,
        9.0,
        8.6,
        8.0,
        7.8,
        7.4,
        7.2,
        6.2,
        5.2,
        4.0,
        2.8,
        1.8,
        1.0,
        0.4,
        0.1,
    ]
)
AGE_BANDS = (AGE_BANDS / AGE_BANDS.sum()).tolist()
BAND_INDEX = list(range(len(AGE_BANDS)))
ADULT_BANDS = BAND_INDEX[4:]  # 20 and older
ADULT_WEIGHTS = AGE_BANDS[4:]
HOUSEHOLD_SIZES = [1, 2, 3, 4, 5]
HOUSEHOLD_P = [0.25, 0.30, 0.25, 0.12, 0.08]  # mean ≈ 2.5
OTHER_AREAS = ["510122", "510124", "511302", "511702", "513401", "510681", "500101", "530102"]
BATCH = 5_000


@demo_step("people", order=30, description=_("buildings, households and residents"))
def people(ctx: DemoContext) -> dict:
    tags_install(actor=SYSTEM)
    total = (
        ctx.residents if ctx.residents is not None else DEFAULT_RESIDENTS.get(ctx.scale, 300_000)
    )
    micros: list[tuple[str, str]] = []
    for district in detailed_districts(ctx.scale):
        micros += (
            Grid.objects.filter(kind="micro", **prefix_filter(district.code))
            .order_by("code")
            .values_list("code", "geometry")
        )
    if not micros or total <= 0:
        return {"residents": 0}
    names = dict(Region.objects.values_list("code", "name"))
    tag_ids = dict(Tag.objects.values_list("code", "id"))
    per_micro = total / len(micros)
    # blind indexes in use, so that generated ID numbers never repeat (also across a resume)
    used = set(
        Resident.objects.exclude(id_number_index="").values_list("id_number_index", flat=True)
    )
    streets = sorted({code[:9] for code, _g in micros})
    progress = ctx.progress("streets", len(streets))
    for street in streets:
        # One transaction a street; a street already filled is skipped by a re-run.
        if Building.objects.filter(grid_code__startswith=street).exists():
            progress.advance()
            continue
        with transaction.atomic():
            _fill_street(
                ctx, [m for m in micros if m[0].startswith(street)], per_micro, names, tag_ids, used
            )
        progress.advance()
    progress.finish()
    place_counts_refresh()
    return {
        "buildings": Building.objects.count(),
        "households": House.objects.count(),
        "residents": Resident.objects.count(),
    }


def _random_name(rp: random.Random) -> str:
    given = "".join(rp.choices(GIVEN, k=1 if rp.random() < 0.3 else 2))
    return rp.choice(SURNAMES) + given


def _fill_street(ctx, micros, per_micro, names, tag_ids, used: set[str]) -> None:
    keys = get_keyring()
    today = date(2026, 11, 1)
    all_buildings, all_houses, residents, tags = [], [], [], []
    for code, geometry in micros:
        r = ctx.rng("people", code)
        rp = random.Random(int(r.integers(2**62)))  # fast scalar draws, same determinism
        geom = shapely.from_geojson(geometry)
        community = names.get(code[:12], "")
        stem = community.removesuffix("社区").removesuffix("村")
        district, street = names.get(code[:6], ""), names.get(code[:9], "")
        n_people = max(1, int(r.poisson(per_micro)))
        sizes: list[int] = []
        while sum(sizes) < n_people:
            sizes.append(rp.choices(HOUSEHOLD_SIZES, weights=HOUSEHOLD_P)[0])
        sizes[-1] -= sum(sizes) - n_people  # exactly n_people in the micro-grid
        n_buildings = max(1, len(sizes) // 24 + 1)
        points = sample_points(geom, n_buildings, r)
        road = stem + rp.choice(ROADS)
        buildings = []
        for b in range(n_buildings):
            number = int(code[12:15]) * 100 + int(code[15:18])  # grid 3, micro-grid 7 → 307号
            buildings.append(
                Building(
                    grid_code=code,
                    name=f"{b + 1}栋",
                    floors=rp.randrange(2, 19),
                    kind=BuildingKind.RESIDENTIAL if rp.random() < 0.9 else BuildingKind.MIXED,
                    address=f"{district}{street}{road}{number}号{b + 1}栋",
                    lon=float(points[b][0]),
                    lat=float(points[b][1]),
                )
            )
        all_buildings += buildings
        houses = []
        for i in range(len(sizes)):
            bld = buildings[i % n_buildings]
            k = i // n_buildings  # the k-th household of this building: 2 units, 4 a floor
            idx = k // 2
            floor = idx // 4 + 1
            bld.floors = max(bld.floors, floor)
            houses.append(
                House(
                    building=bld,
                    grid_code=code,
                    unit=str(k % 2 + 1),
                    floor=floor,
                    room=f"{floor}{idx % 4 + 1:02d}",
                    use=HouseUse.RENTED if rp.random() < 0.18 else HouseUse.SELF_OCCUPIED,
                )
            )
        all_houses += houses
        for house, size in zip(houses, sizes, strict=True):
            floating = rp.random() < 0.2
            # the head from the adult part of the age pyramid, the others from all of it
            head_age = rp.choices(ADULT_BANDS, weights=ADULT_WEIGHTS)[0] * 5 + rp.randrange(5)
            members = [(Relation.HEAD, head_age)]
            if size >= 2:
                members.append((Relation.SPOUSE, max(20, head_age + rp.randrange(-5, 6))))
            for _k in range(size - len(members)):
                # the members beyond a couple are mostly their children (under 20)
                if rp.random() < 0.7:
                    band = rp.choices(BAND_INDEX[:4], weights=AGE_BANDS[:4])[0]
                else:
                    band = rp.choices(BAND_INDEX, weights=AGE_BANDS)[0]
                age = min(99, band * 5 + rp.randrange(0, 5))
                rel = (
                    Relation.CHILD
                    if age < head_age - 15
                    else Relation.PARENT
                    if (age > head_age + 15)
                    else Relation.RELATIVE
                )
                members.append((rel, age))
            for rel, age in members:
                sex = "male" if rp.random() < 0.5 else "female"
                birth = today - timedelta(days=int(age * 365.25) + rp.randrange(0, 365))
                area = rp.choice(OTHER_AREAS) if floating else code[:6]
                seq = rp.randrange(0, 1000)
                while True:
                    idn = make_id_number(area, birth, seq, sex)
                    index = keys.blind_index(idn, field=Field.ID_NUMBER)
                    if index not in used:
                        used.add(index)
                        break
                    seq = (seq + 2) % 1000  # same parity, same sex
                name = _random_name(rp)
                res = Resident(
                    house=house,
                    grid_code=code,
                    name=name,
                    name_initials=initials(name),
                    sex=sex,
                    birth_date=birth,
                    id_number_enc=keys.encrypt(idn, field=Field.ID_NUMBER),
                    id_number_index=index,
                    registration=Registration.FLOATING if floating else Registration.HOUSEHOLD,
                    relation=rel
                    if not floating
                    else (
                        Relation.TENANT
                        if rel == Relation.HEAD and house.use == HouseUse.RENTED
                        else rel
                    ),
                    moved_in=birth
                    if not floating
                    else today - timedelta(days=rp.randrange(30, 3000)),
                )
                if age >= 16:
                    phone = rp.choice(PHONE_PREFIXES) + f"{rp.randrange(10**8):08d}"
                    res.phone_enc = keys.encrypt(phone, field=Field.PHONE)
                    res.phone_index = keys.blind_index(phone, field=Field.PHONE)
                residents.append(res)
                chosen = _tags_for(rp, age, size)
                tags.append(chosen)
    Building.objects.bulk_create(all_buildings, batch_size=BATCH)
    for h in all_houses:
        h.building = h.building  # picks up the building's new primary key
    House.objects.bulk_create(all_houses, batch_size=BATCH)
    for res in residents:
        res.house = res.house
    Resident.objects.bulk_create(residents, batch_size=BATCH)
    heads: dict[int, Resident] = {}
    for res in residents:
        if res.relation in (Relation.HEAD, Relation.TENANT) and res.house_id not in heads:
            heads[res.house_id] = res
    for house in all_houses:
        house.head = heads.get(house.pk)
    House.objects.bulk_update(all_houses, ["head"], batch_size=BATCH)
    rp = random.Random(int(ctx.rng("care", micros[0][0]).integers(2**62)))
    links, care = [], []
    for res, chosen in zip(residents, tags, strict=True):
        for tag in chosen:
            links.append(ResidentTag(resident=res, tag_id=tag_ids[tag]))
        level = _care_level(rp, chosen)
        if level:
            res.care_level = level
            care.append(
                CareAssessment(
                    resident=res,
                    level=level,
                    reason="入户走访评估" if level != CareLevel.GREEN else "年度评估",
                )
            )
    ResidentTag.objects.bulk_create(links, batch_size=BATCH)
    Resident.objects.bulk_update([c.resident for c in care], ["care_level"], batch_size=BATCH)
    CareAssessment.objects.bulk_create(care, batch_size=BATCH)


def _tags_for(r: random.Random, age: int, household_size: int) -> list[str]:
    out = []
    if age >= 60 and household_size == 1:
        out.append("elderly_alone")
    elif age >= 60 and household_size == 2 and r.random() < 0.5:
        out.append("empty_nest")
    if age < 16 and r.random() < 0.02:
        out.append("left_behind_child")
    if age < 16 and r.random() < 0.005:
        out.append("child_in_difficulty")
    if r.random() < 0.04:
        out.append("disabled")
    if r.random() < 0.01:
        out.append("seriously_ill")
    if r.random() < 0.02:
        out.append("subsistence")
    if age >= 25 and r.random() < 0.015:
        out.append("veteran")
    return out


def _care_level(r: random.Random, tags: list[str]) -> str:
    if "elderly_alone" in tags or "child_in_difficulty" in tags:
        return r.choices([CareLevel.RED, CareLevel.YELLOW, CareLevel.GREEN], [0.3, 0.5, 0.2])[0]
    if {"empty_nest", "disabled", "seriously_ill", "left_behind_child"} & set(tags):
        return r.choices([CareLevel.YELLOW, CareLevel.GREEN], [0.4, 0.6])[0]
    return ""


# The person of the walk-through in the README: a woman living alone in the demo micro-grid,
# red care level, whom the community secretary finds by her ID number.
WALKTHROUGH_MICRO = "510104017001001001"
WALKTHROUGH = {
    "name": "王秀英",
    "birth": date(1941, 3, 8),
    "order": 124,
    "phone": "13880461234",
    "contacts": [{"name": "李建国", "relation": "儿子", "phone": "13908172345"}],
    "reason": "独居，高龄，患高血压，行动不便",
}


@demo_step("walkthrough", order=35, description=_("the walk-through's resident"))
def walkthrough(ctx: DemoContext) -> dict:
    from wangge.people.services import care_level_set, resident_register, resident_tag_set

    building = (
        Building.objects.filter(grid_code__startswith=WALKTHROUGH_MICRO).order_by("id").first()
    )
    if building is None:
        return {"residents": 0}
    w = WALKTHROUGH
    keys = get_keyring()
    for order in range(w["order"], w["order"] + 200, 2):  # skip numbers the generator used
        id_number = make_id_number("510104", w["birth"], order, "female")
        index = keys.blind_index(id_number, field=Field.ID_NUMBER)
        other = Resident.objects.filter(id_number_index=index).first()
        if other is None or other.name == w["name"]:
            break
    if other is None:
        with transaction.atomic():
            house, _created = House.objects.get_or_create(
                building=building,
                unit="1",
                room="601",
                defaults={"grid_code": building.grid_code, "floor": 6},
            )
            r = resident_register(
                actor=SYSTEM,
                house=house,
                name=w["name"],
                id_number=id_number,
                phone=w["phone"],
                contacts=w["contacts"],
            )
            resident_tag_set(actor=SYSTEM, resident=r, tag_code="elderly_alone")
            care_level_set(actor=SYSTEM, resident=r, level=CareLevel.RED, reason=w["reason"])
    if ctx.data_dir is not None:
        from wangge.accounts.demo import ACCOUNTS_FILE

        path = ctx.data_dir / ACCOUNTS_FILE
        if path.exists() and id_number not in path.read_text(encoding="utf-8"):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(
                    f"# walk-through: sign in as community, search the ID number {id_number} "
                    f"({w['name']}, living alone, red care level)\n"
                )
    return {"residents": 1}
