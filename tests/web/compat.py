"""A copy of knowledge/ that this branch's role-play code can load.

The scenario files on this branch were updated ahead of the role-play code (fact sheets, acknowledgement
lead-ins, new customer situations and techniques such as `decision_makers`), which main is adding concurrently;
until that lands, RoleplayService refuses the shipped files. The web tests need a working service, so they run on
a copy with the fields and technique names the loaded code does not know left out. Once the code knows them,
nothing is left out and this is a plain copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from app.config import ROOT
from app.roleplay.scenarios import OBJECTION_SITUATIONS, SITUATIONS, Objection, Persona, Scenario
from app.roleplay.techniques import TECHNIQUES


def _known(names: list[str]) -> list[str]:
    return [n for n in names if n in TECHNIQUES]


def _scenario(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k in Scenario.model_fields}
    if "persona" in out:
        out["persona"] = {k: v for k, v in out["persona"].items() if k in Persona.model_fields}
    out["lines"] = {k: v for k, v in (out.get("lines") or {}).items() if k in SITUATIONS}
    for key in ("moves", "hurts"):
        if key in out:
            out[key] = {k: v for k, v in out[key].items() if k in TECHNIQUES}
    objections = []
    for o in out.get("objections", []):
        o = {k: v for k, v in o.items() if k in Objection.model_fields}
        o["revealed_by"] = _known(o.get("revealed_by", [])) or ["probe"]
        o["resolved_by"] = _known(o.get("resolved_by", [])) or ["value"]
        o["lines"] = {k: v for k, v in o.get("lines", {}).items() if k in OBJECTION_SITUATIONS}
        objections.append(o)
    out["objections"] = objections
    return out


def knowledge_copy(target: Path) -> Path:
    """Copy knowledge/ to `target`, keeping only what the loaded role-play code understands."""
    shutil.copytree(ROOT / "knowledge", target)
    for path in (target / "scenarios").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.name.startswith("_"):
            data = {"lines": {k: v for k, v in (data.get("lines") or {}).items() if k in SITUATIONS}}
        else:
            data = _scenario(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target
