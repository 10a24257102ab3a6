"""Scenario files (knowledge/scenarios/*.yaml): schema, defaults and a loader that names the bad file and field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import CoachError
from app.roleplay.techniques import TECHNIQUES

COMMON_FILE = "_common.yaml"
Difficulty = Literal["easy", "normal", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "normal", "hard")
# Situations the customer can reply to; scenario files may override any of the shared lines in _common.yaml.
SITUATIONS = (
    "buying_signal", "progressed", "walked_away", "time_up", "neutral", "deflect", "premature_close",
    "discount", "argue", "pressure", "overpromise", "blame_customer", "disparage",
    # Messages that are not a sales move: the customer still answers them like a person would.
    "greeting", "filler", "repeat", "meta", "fact_unknown", "fact_guarded", "already_said",
    # Wanting more once an objection's own "softened" lines are spent (never back to the surface objection).
    "more",
    # A proposal of a time to meet ("does Tuesday work for a call?"): the customer takes it, in character.
    "meeting",
    # A good move once every concern is settled: the customer agrees with it.
    "settled",
)
# What a rep can ask the customer; each scenario's fact sheet answers every one of them in character.
FACT_SLOTS = (
    "company", "volume", "budget", "budget_cycle", "decision_makers", "timeline", "incumbent", "competitor_offer",
    "pain", "criteria", "history",
)
# Lines with a placeholder the engine fills: repeat the customer's last point, or a fact already given.
PLACEHOLDERS = {"repeat": "{last}", "already_said": "{fact}"}
OBJECTION_SITUATIONS = ("pushback", "reveal", "softened", "resolved")


class ScenarioError(CoachError):
    """A scenario file is malformed; the message names the file and the field."""

    status_code = 500


class SchemaProblem(ValueError):
    """A rule of the schema broken: the same English message as before, plus a code and values the editor translates."""

    def __init__(self, message: str, code: str, field: str = "", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.field = field  # set where pydantic cannot tell the place (a model-level rule)
        self.params = params


class Strict(BaseModel):
    """Reject unknown keys so a typo in a scenario file is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """One string in each language."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """Return the text in `lang`."""
        return self.zh if lang == "zh" else self.en


class Lines(Strict):
    """Alternative lines in each language (the engine rotates through them)."""

    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    def get(self, lang: str) -> list[str]:
        """Return the lines in `lang`."""
        return self.zh if lang == "zh" else self.en


class Fact(Strict):
    """One fact the customer gives when asked, once trust allows (depth 0 to anyone, 2 only to a trusted rep)."""

    depth: int = Field(default=0, ge=0, le=2)
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    def get(self, lang: str) -> list[str]:
        """Return the answers in `lang`."""
        return self.zh if lang == "zh" else self.en


class Persona(Strict):
    """Who the rep is talking to."""

    name: Text
    role: Text
    company: Text
    temperament: Text


class Effect(Strict):
    """How a technique changes the customer's trust and patience, and why (shown to trainers)."""

    trust: int = Field(default=0, ge=-50, le=50)
    patience: int = Field(default=0, ge=-50, le=50)
    why: Text


def _check_techniques(names: list[str] | dict[str, Effect]) -> None:
    unknown = sorted(set(names) - set(TECHNIQUES))
    if unknown:
        raise SchemaProblem(f"unknown technique(s) {unknown}; known: {sorted(TECHNIQUES)}", "unknown_technique",
                            names=", ".join(unknown))


class Objection(Strict):
    """What the customer says, what they mean, and what reveals and resolves it."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    kind: Literal["genuine", "smokescreen"]
    surface: Text
    concern: Text
    revealed_by: list[str] = Field(min_length=1)
    resolved_by: list[str] = Field(min_length=1)
    lines: dict[Literal["pushback", "reveal", "softened", "resolved"], Lines]

    @field_validator("revealed_by", "resolved_by")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        _check_techniques(value)
        return value

    @field_validator("lines")
    @classmethod
    def _all_situations(cls, value: dict[str, Lines]) -> dict[str, Lines]:
        missing = [s for s in OBJECTION_SITUATIONS if s not in value]
        if missing:
            raise SchemaProblem(f"missing lines for {missing}", "missing_lines", names=", ".join(missing))
        return value


def check_across_fields(lines: Mapping[str, Mapping[str, list[str]]], facts: list[str], acks: list[str],
                        objection_ids: list[str]) -> None:
    """Check the rules that span fields (every situation has lines, placeholders, slots, unique objection ids).

    A function of plain data, so the editor can run it on a draft whose single fields still have problems.
    """
    unknown = sorted(set(lines) - set(SITUATIONS))
    if unknown:
        raise SchemaProblem(f"lines: unknown situation(s) {unknown}; known: {list(SITUATIONS)}",
                            "unknown_situation", "lines", names=", ".join(unknown))
    missing = [s for s in SITUATIONS if s not in lines]
    if missing:
        raise SchemaProblem(f"lines: missing {missing} (add them here or in {COMMON_FILE})", "missing_lines",
                            "lines", names=", ".join(missing))
    for key, placeholder in PLACEHOLDERS.items():
        for lang in ("zh", "en"):
            bad = [line for line in lines[key][lang] if placeholder not in line]
            if bad:
                raise SchemaProblem(f"lines.{key}.{lang}: every line needs {placeholder}, not {bad[0]!r}",
                                    "placeholder", f"lines.{key}.{lang}", placeholder=placeholder)
    unknown_slots = sorted(set(facts) - set(FACT_SLOTS))
    if unknown_slots:
        raise SchemaProblem(f"facts: unknown slot(s) {unknown_slots}; known: {list(FACT_SLOTS)}",
                            "unknown_slot", "facts", names=", ".join(unknown_slots))
    _check_techniques(acks)
    if len(set(objection_ids)) != len(objection_ids):
        twice = sorted({i for i in objection_ids if objection_ids.count(i) > 1})
        where = f"objections.{len(objection_ids) - 1 - objection_ids[::-1].index(twice[0])}.id"
        raise SchemaProblem(f"objections: duplicate ids {objection_ids}", "duplicate_id", where,
                            names=", ".join(twice))


class Scenario(Strict):
    """A role-play scenario, bilingual, as a trainer writes it."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: Text
    stage: int = Field(ge=1, le=6)
    difficulty: Difficulty
    trains: list[str] = Field(min_length=1, description="Standard ids this scenario practises.")
    persona: Persona
    opening: Lines
    objections: list[Objection] = Field(min_length=1)
    moves: dict[str, Effect] = Field(default_factory=dict)
    hurts: dict[str, Effect] = Field(default_factory=dict)
    lines: dict[str, Lines] = Field(default_factory=dict)
    facts: dict[str, Fact] = Field(default_factory=dict, description="The customer's fact sheet, by slot.")
    acks: dict[str, Lines] = Field(default_factory=dict, description="Lead-ins acknowledging a good move.")
    max_turns: int = Field(default=10, ge=3, le=40)

    @field_validator("trains")
    @classmethod
    def _standard_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not (v.startswith("s") and v.count(".") == 2)]
        if bad:
            raise SchemaProblem(f"not standard ids like 's4.caution.1': {bad}", "not_standard_ids",
                                names=", ".join(bad))
        return value

    @field_validator("moves", "hurts")
    @classmethod
    def _known(cls, value: dict[str, Effect]) -> dict[str, Effect]:
        _check_techniques(value)
        return value

    @model_validator(mode="after")
    def _lines_complete(self) -> Scenario:
        check_across_fields({key: {"zh": lines.zh, "en": lines.en} for key, lines in self.lines.items()},
                            list(self.facts), list(self.acks), [o.id for o in self.objections])
        return self

    def summary(self) -> dict[str, object]:
        """Return the public description used by list_scenarios() and session payloads."""
        p = self.persona
        return {
            "id": self.id,
            "title": {"zh": self.title.zh, "en": self.title.en},
            "stage": self.stage,
            "difficulty": self.difficulty,
            "trains": list(self.trains),
            "persona": {
                lang: f"{p.name.get(lang)}, {p.role.get(lang)}, {p.company.get(lang)} — {p.temperament.get(lang)}"
                for lang in ("zh", "en")
            },
            "max_turns": self.max_turns,
        }


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    return f"field '{where}': {first['msg']}{more}"


def read_yaml(path: Path) -> dict[str, object]:
    """Return a scenario file's fields as written (before the shared lines are merged in)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {path.name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario file {path.name} must be a mapping of fields (id, title, persona, ...)")
    return data


def _merged(own: object, shared: object) -> object:
    """A scenario's own lines come first; the shared ones follow as more variants, so no pool runs dry."""
    if not isinstance(own, dict) or not isinstance(shared, dict):
        return own if own is not None else shared
    return {lang: [*own.get(lang, []), *[x for x in shared.get(lang, []) if x not in own.get(lang, [])]]
            for lang in {*own, *shared}}


def with_common(data: dict[str, object], common: dict[str, object] | None) -> dict[str, object]:
    """Return a scenario's fields with the shared lines and acks of _common.yaml merged in, as the loader sees them."""
    data = dict(data)
    for key in ("lines", "acks"):
        shared = dict((common or {}).get(key, {}))  # type: ignore[call-overload]
        own = dict(data.get(key) or {})  # type: ignore[call-overload]
        data[key] = {situation: _merged(own.get(situation), shared.get(situation))
                     for situation in {**shared, **own}}
    return data


def read_common(folder: Path) -> dict[str, object]:
    """Return the shared lines of `folder`/_common.yaml (empty when there is none)."""
    path = folder / COMMON_FILE
    return read_yaml(path) if path.exists() else {}


def load_scenario(path: Path, common: dict[str, object] | None = None) -> Scenario:
    """Parse one scenario file, filling unspecified lines from the shared defaults."""
    data = with_common(read_yaml(path), common)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"scenario file {path.name}: {_describe(exc)}") from exc
    if scenario.id != path.stem:
        raise ScenarioError(f"scenario file {path.name}: field 'id' is {scenario.id!r} but must match the file name")
    return scenario


def load_scenarios(folder: Path) -> dict[str, Scenario]:
    """Load every *.yaml scenario in `folder` (files starting with '_' hold shared lines)."""
    if not folder.is_dir():
        raise ScenarioError(f"no scenario folder at {folder}; copy knowledge/scenarios/ from the repository")
    common = read_common(folder)
    scenarios = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        scenario = load_scenario(path, common)
        scenarios[scenario.id] = scenario
    if not scenarios:
        raise ScenarioError(f"no scenario files in {folder}; add one (see knowledge/scenarios/price-objection.yaml)")
    return scenarios
