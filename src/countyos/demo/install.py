"""Installing the Demo County into a hub: departments, townships, users and datasets.

Idempotent per data directory: a hub that already holds the Demo County keeps it (a new admin
token is issued so ``make demo`` always prints a working one).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.parquet as pq
from sqlalchemy import select

from countyos.auth import Principal
from countyos.auth.users import create_token, create_user
from countyos.catalog import organisation
from countyos.catalog.datasets import DatasetInfo, import_dataset
from countyos.db.models import Dataset, User
from countyos.hub import Hub
from countyos.site_settings import set_county_name, set_showcase_public

ADMIN = "admin"

# Demo users: one per role, each a realistic member of the county's organisation.
DEMO_USERS = (
    ("steward_gongan", "steward", "public_security", None, "公安局数据管家"),
    ("steward_shichang", "steward", "market_regulation", None, "市场监管局数据管家"),
    ("steward_tongji", "steward", "statistics", None, "统计局数据管家"),
    ("steward_gongdian", "steward", "power_supply", None, "供电公司数据管家"),
    ("steward_rexian", "steward", "hotline_12345", None, "12345热线数据管家"),
    ("steward_renshe", "steward", "human_resources", None, "人社局数据管家"),
    ("steward_weijian", "steward", "health", None, "卫健局数据管家"),
    ("dev_zhiyuan", "developer", None, None, "智远科技（场景开发者）"),
    ("viewer_leader", "viewer", None, None, "县领导（查看者）"),
)


@dataclass
class DemoInstallResult:
    admin_token: str
    already_installed: bool
    datasets: list[str] = field(default_factory=list)
    user_tokens: dict[str, str] = field(default_factory=dict)


def install_demo(
    hub: Hub,
    *,
    scale: float,
    seed: int = 2026,
    progress: Callable[[str, float], None] | None = None,
) -> DemoInstallResult:
    """Generate the Demo County at ``scale`` and load it; returns tokens to log in with."""
    from countyos.demo import generate_county

    operator = Principal(username="demo-installer", role="admin")
    with hub.db.session() as session:
        admin = session.execute(select(User).where(User.username == ADMIN)).unique().scalar_one_or_none()
        loaded = session.execute(select(Dataset.name)).scalars().all()
        if admin is not None and loaded:
            token = create_token(session, operator, username=ADMIN, name="demo")
            return DemoInstallResult(admin_token=token, already_installed=True, datasets=list(loaded))

    report = progress or (lambda _step, _share: None)
    report("生成示范县 generating", 0.0)
    county = generate_county(scale=scale, seed=seed,
                             progress=lambda step, share: report(step, share * 0.4))
    result = DemoInstallResult(admin_token="", already_installed=False)
    with hub.db.session() as session:
        for dep in county.departments:
            organisation.create_department(session, operator, code=dep.code, name_zh=dep.name_zh,
                                           name_en=dep.name_en)
        features = {f["properties"]["code"]: f["geometry"] for f in county.geojson["features"]}
        for town in county.townships:
            organisation.create_township(session, operator, code=town.code, name_zh=town.name_zh,
                                         name_pinyin=town.name_pinyin, kind=town.kind,
                                         geometry=features.get(town.code))
        _, result.admin_token = create_user(session, operator, username=ADMIN, role="admin",
                                            display_name="大数据局管理员")
        # the Demo County starts with its showcase (大屏) open to the public
        set_showcase_public(session, operator, public=True)
        set_county_name(session, operator, county.name_zh)
        first_township = county.townships[0].code
        for username, role, department, township, display in (
            *DEMO_USERS, ("staff_" + county.townships[0].name_pinyin.lower().replace(" ", ""),
                          "township_staff", None, first_township, "乡镇工作人员"),
        ):
            _, result.user_tokens[username] = create_user(
                session, operator, username=username, role=role, department=department,
                township=township, display_name=display)

    folder = hub.settings.staging_dir / f"demo-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        total = len(county.datasets)
        for index, dataset in enumerate(county.datasets):
            report(f"导入 importing {dataset.name}", 0.4 + 0.6 * index / total)
            path = folder / f"{dataset.name}.parquet"
            pq.write_table(dataset.table, path)
            info = DatasetInfo(
                title_zh=dataset.title_zh, title_en=dataset.title_en,
                description_zh=dataset.description_zh, description_en=dataset.description_en,
                column_descriptions={c.name: (c.description_zh, c.description_en)
                                     for c in dataset.columns},
            )
            import_dataset(hub, operator, source=path, name=dataset.name,
                           department=dataset.department, info=info)
            path.unlink()
            result.datasets.append(dataset.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report("完成 done", 1.0)
    return result
