"""The scenario editor's model: a flat form <-> a scenario file, the loader's checks, safe saving, a preview.

A scenario file holds the scenario's own lines only; `_common.yaml` supplies the rest when the loader reads it, and
the editor validates a draft exactly that way. Saving is guarded twice: the version the trainer opened must still
be the file on disk (else 409), and the new text is written beside the old file and renamed over it only once it
has been read back to the same scenario, so a failed save never loses the file that was there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from app.errors import ConflictError, NotFoundError
from app.roleplay import engine
from app.roleplay.scenarios import (
    FACT_SLOTS,
    OBJECTION_SITUATIONS,
    SITUATIONS,
    Scenario,
    SchemaProblem,
    check_across_fields,
    read_common,
    read_yaml,
    with_common,
)
from app.roleplay.scoring import turn_feedback
from app.roleplay.techniques import TECHNIQUES

if TYPE_CHECKING:
    from app.config import Settings
    from app.roleplay.service import RoleplayService

LANGS = ("zh", "en")
PERSONA_FIELDS = ("name", "role", "company", "temperament")
HURTS = set(engine.HURTS)
MAX_ID = 64  # the length of roleplay_sessions.scenario
MAX_PREVIEW_TURNS = 8
# The order a trainer reads a scenario file in (the shipped files use it too).
KEY_ORDER = ("id", "title", "stage", "difficulty", "trains", "persona", "opening", "objections", "moves", "hurts",
             "lines", "max_turns", "facts", "acks")
INDEXED = re.compile(r"^objections\.(\d+)\.")


@dataclass
class FieldError:
    """One problem with a draft: the form field it belongs to, a code the page translates, and the loader's words."""

    field: str
    code: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    message: str = ""


# -- the form ---------------------------------------------------------------------------------------------------------


def _lines(value: object) -> str:
    return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value or "")


def _text(value: object, lang: str) -> str:
    return str(value.get(lang, "")) if isinstance(value, dict) else ""


def form_values(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a scenario file's fields as flat form values: "persona.name.zh" -> text, lists as one line per entry."""
    f: dict[str, Any] = {"id": str(raw.get("id", "")), "stage": str(raw.get("stage", "")),
                         "difficulty": str(raw.get("difficulty", "normal")),
                         "max_turns": str(raw.get("max_turns", 10)), "trains": list(raw.get("trains") or [])}
    for lang in LANGS:
        f[f"title.{lang}"] = _text(raw.get("title"), lang)
        f[f"opening.{lang}"] = _lines((raw.get("opening") or {}).get(lang))
        for part in PERSONA_FIELDS:
            f[f"persona.{part}.{lang}"] = _text((raw.get("persona") or {}).get(part), lang)
    objections = raw.get("objections") or []
    f["objections"] = len(objections)
    for i, o in enumerate(objections):
        p = f"objections.{i}"
        f[f"{p}.id"], f[f"{p}.kind"] = str(o.get("id", "")), str(o.get("kind", "genuine"))
        for techniques in ("revealed_by", "resolved_by"):
            f[f"{p}.{techniques}"] = list(o.get(techniques) or [])
        for lang in LANGS:
            f[f"{p}.surface.{lang}"] = _text(o.get("surface"), lang)
            f[f"{p}.concern.{lang}"] = _text(o.get("concern"), lang)
            for situation in OBJECTION_SITUATIONS:
                f[f"{p}.lines.{situation}.{lang}"] = _lines(((o.get("lines") or {}).get(situation) or {}).get(lang))
    for group in ("moves", "hurts"):
        for tech, effect in (raw.get(group) or {}).items():
            f[f"effects.{tech}.group"] = group
            for part in ("trust", "patience"):
                f[f"effects.{tech}.{part}"] = str(effect.get(part, "")) if isinstance(effect, dict) else ""
            for lang in LANGS:
                f[f"effects.{tech}.why.{lang}"] = _text((effect or {}).get("why"), lang)
    for slot, fact in (raw.get("facts") or {}).items():
        f[f"facts.{slot}.depth"] = str((fact or {}).get("depth", 0))
        for lang in LANGS:
            f[f"facts.{slot}.{lang}"] = _lines((fact or {}).get(lang))
    for key in ("lines", "acks"):
        for name, lines in (raw.get(key) or {}).items():
            for lang in LANGS:
                f[f"{key}.{name}.{lang}"] = _lines((lines or {}).get(lang))
    return f


def _split(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _number(text: str) -> int | str:
    value = text.strip()
    return int(value) if re.fullmatch(r"[+-]?\d{1,6}", value) else value


def draft_from_form(pairs: Iterable[tuple[str, str]], add_objection: bool = False) -> dict[str, Any]:
    """Build the scenario file's fields from posted form pairs (the inverse of form_values)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)

    def get(name: str) -> str:
        return single.get(name, "").strip()

    def text(prefix: str) -> dict[str, str]:
        return {lang: get(f"{prefix}.{lang}") for lang in LANGS}

    def lines(prefix: str) -> dict[str, list[str]]:
        return {lang: _split(single.get(f"{prefix}.{lang}", "")) for lang in LANGS}

    raw: dict[str, Any] = {"id": get("id"), "title": text("title"), "stage": _number(get("stage")),
                           "difficulty": get("difficulty"), "trains": [t for t in multi.get("trains", []) if t],
                           "persona": {part: text(f"persona.{part}") for part in PERSONA_FIELDS},
                           "opening": lines("opening")}
    indexes = sorted({int(m.group(1)) for name in single if (m := INDEXED.match(name))})
    objections = []
    for i in indexes:
        p = f"objections.{i}"
        if get(f"{p}.remove"):
            continue
        objections.append({
            "id": get(f"{p}.id"), "kind": get(f"{p}.kind"), "surface": text(f"{p}.surface"),
            "concern": text(f"{p}.concern"),
            "revealed_by": [t for t in multi.get(f"{p}.revealed_by", []) if t],
            "resolved_by": [t for t in multi.get(f"{p}.resolved_by", []) if t],
            "lines": {situation: lines(f"{p}.lines.{situation}") for situation in OBJECTION_SITUATIONS},
        })
    if add_objection:
        objections.append(blank_objection())
    raw["objections"] = objections
    for tech in TECHNIQUES:
        p = f"effects.{tech}"
        values = {part: get(f"{p}.{part}") for part in ("trust", "patience")}
        why = text(f"{p}.why")
        if not any(values.values()) and not any(why.values()):
            continue
        group = get(f"{p}.group")
        group = group if group in ("moves", "hurts") else "hurts" if tech in HURTS else "moves"
        effect: dict[str, Any] = {part: _number(v) for part, v in values.items() if v}
        effect["why"] = why
        raw.setdefault(group, {})[tech] = effect
    for key, names in (("lines", SITUATIONS), ("acks", tuple(TECHNIQUES))):
        for name in names:
            own = lines(f"{key}.{name}")
            if any(own.values()):
                raw.setdefault(key, {})[name] = own
    raw["max_turns"] = _number(get("max_turns")) if get("max_turns") else 10
    for slot in FACT_SLOTS:
        answers = lines(f"facts.{slot}")
        if any(answers.values()):
            depth = get(f"facts.{slot}.depth")
            raw.setdefault("facts", {})[slot] = {"depth": _number(depth) if depth else 0, **answers}
    return {key: raw[key] for key in KEY_ORDER if key in raw}


def blank_objection() -> dict[str, Any]:
    """Return an empty objection for the form to fill."""
    empty: dict[str, list[str]] = {"zh": [], "en": []}
    return {"id": "", "kind": "genuine", "surface": {"zh": "", "en": ""}, "concern": {"zh": "", "en": ""},
            "revealed_by": [], "resolved_by": [], "lines": {s: dict(empty) for s in OBJECTION_SITUATIONS}}


def blank_draft() -> dict[str, Any]:
    """Return the fields of a new scenario before the trainer fills them in."""
    return {"id": "", "title": {"zh": "", "en": ""}, "stage": 4, "difficulty": "normal", "trains": [],
            "persona": {part: {"zh": "", "en": ""} for part in PERSONA_FIELDS}, "opening": {"zh": [], "en": []},
            "objections": [blank_objection()], "max_turns": 10}


# -- validation -------------------------------------------------------------------------------------------------------


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("moves", "hurts"):
        parts[0] = "effects"
    # A list entry (one line of a textarea, one ticked box) belongs to the field that holds the list.
    while parts and parts[-1].isdigit() and not (len(parts) >= 2 and parts[-2] == "objections"):
        parts.pop()
    return ".".join(parts)


def _errors_of(exc: ValidationError) -> list[FieldError]:
    found = []
    for error in exc.errors():
        code, params = error["type"], dict(error.get("ctx") or {})
        where = _field_of(error["loc"])
        problem = params.pop("error", None)
        if isinstance(problem, SchemaProblem):
            code, params, where = problem.code, dict(problem.params), problem.field or where
        found.append(FieldError(where, code, params, str(error["msg"]).removeprefix("Value error, ")))
    return found


def _across_fields(merged: dict[str, Any]) -> FieldError | None:
    try:
        check_across_fields(
            {k: {lang: list(v.get(lang) or []) for lang in LANGS} for k, v in merged["lines"].items()},
            list(merged.get("facts") or {}), list(merged.get("acks") or {}),
            [str(o.get("id", "")) for o in merged.get("objections") or [] if isinstance(o, dict)])
    except SchemaProblem as problem:
        return FieldError(problem.field or "scenario", problem.code, dict(problem.params), str(problem))
    except (AttributeError, TypeError, KeyError):
        return None  # a shape so wrong that the field errors already say it
    return None


def validate(
    raw: dict[str, Any], common: dict[str, Any], known_standards: set[str] | None = None,
) -> tuple[Scenario | None, list[FieldError]]:
    """Check a draft with the loader's schema (shared lines merged in as the loader does), plus what a file can't say.

    Returns the scenario the loader would build from the saved file, or the problems, each tied to a form field.
    """
    errors: list[FieldError] = []
    for key in ("lines", "acks", "facts", "moves", "hurts", "persona", "title"):
        if key in raw and not isinstance(raw[key], dict):
            errors.append(FieldError(key, "dict_type", {}, "must be a mapping"))
    if not isinstance(raw.get("trains", []), list):
        errors.append(FieldError("trains", "list_type", {}, "must be a list"))
    if errors:
        return None, errors
    scenario_id = str(raw.get("id", ""))
    if len(scenario_id) > MAX_ID:
        errors.append(FieldError("id", "too_long", {"max": MAX_ID}, f"at most {MAX_ID} characters"))
    if known_standards is not None:
        unknown = [s for s in raw.get("trains") or [] if s not in known_standards]
        if unknown:
            errors.append(FieldError("trains", "unknown_standard", {"names": ", ".join(unknown)},
                                     f"no such standard(s): {', '.join(unknown)}"))
    merged = with_common(raw, common)
    try:
        scenario = Scenario.model_validate(merged)
    except ValidationError as exc:
        errors += _errors_of(exc)
        # Pydantic skips the rules across fields while a single field is wrong; run them here, so a trainer sees
        # every problem at once instead of one round after another.
        across = _across_fields(merged)
        if across is not None and (across.field, across.code) not in {(e.field, e.code) for e in errors}:
            errors.append(across)
        return None, errors
    return (None, errors) if errors else (scenario, [])


# -- files ------------------------------------------------------------------------------------------------------------


def to_yaml(raw: dict[str, Any]) -> str:
    """Return the scenario file's text: the fields in the usual order, both languages kept as written."""
    ordered = {key: raw[key] for key in KEY_ORDER if key in raw}
    body = yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=100_000, default_flow_style=False)
    return f"# Scenario '{raw.get('id', '')}', saved with the scenario editor (/trainer/scenarios).\n{body}"


def version_of(data: bytes) -> str:
    """Return the version a trainer's form carries: a hash of the file's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


class ScenarioFiles:
    """Read and save the scenario files of one folder; a lock file makes each save one at a time across processes."""

    def __init__(self, folder: Path, lock_path: Path) -> None:
        self.folder = folder
        self.lock_path = lock_path

    @classmethod
    def of(cls, settings: Settings) -> ScenarioFiles:
        """Return the editor's view of knowledge/scenarios/ (the lock file lives in the data folder)."""
        return cls(settings.knowledge_dir / "scenarios", settings.data_dir / "locks" / "scenario-editor.lock")

    def path(self, scenario_id: str) -> Path:
        """Return the file of a scenario (the id is checked against the schema's pattern first)."""
        if not re.fullmatch(r"[a-z0-9-]{1,64}", scenario_id):
            raise NotFoundError(f"Scenario {scenario_id!r} not found; see the list on /trainer/scenarios")
        return self.folder / f"{scenario_id}.yaml"

    def read(self, scenario_id: str) -> tuple[dict[str, Any], str]:
        """Return a scenario file's own fields and its version."""
        path = self.path(scenario_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"Scenario {scenario_id!r} not found; see the list on /trainer/scenarios") from None
        return read_yaml(path), version_of(data)

    def common(self) -> dict[str, Any]:
        """Return the shared lines every scenario is merged with."""
        return read_common(self.folder)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def save(self, raw: dict[str, Any], scenario: Scenario, version: str | None) -> str:
        """Write a validated draft; `version` is what the trainer opened (None: a new scenario). Return the new one.

        409 when the file changed since it was opened, or a new scenario's id is taken. The text is written to a
        temporary file, read back and compared with `scenario`, then renamed over the old file in one step.
        """
        path = self.path(scenario.id)
        text = to_yaml(raw).encode("utf-8")
        with self._locked():
            current = version_of(path.read_bytes()) if path.exists() else None
            if version is None and current is not None:
                raise ConflictError(f"a scenario with the id {scenario.id!r} already exists; choose another id")
            if version is not None and current != version:
                raise ConflictError(
                    f"scenario {scenario.id!r} was changed by someone else since you opened it; "
                    "reload it to see their version (your edits are still in the form)"
                )
            fd, tmp_name = tempfile.mkstemp(prefix=f".{scenario.id}.", suffix=".tmp", dir=self.folder)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                reread = Scenario.model_validate(with_common(read_yaml(tmp), self.common()))
                if reread != scenario:
                    raise ConflictError("the saved text did not read back as the same scenario; nothing was changed")
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _sync_dir(self.folder)
        return version_of(text)


def _sync_dir(folder: Path) -> None:
    """Make the rename durable (a crash right after it keeps the new file, not an empty name)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- preview ----------------------------------------------------------------------------------------------------------


def preview(service: RoleplayService, scenario: Scenario, lang: str, difficulty: str,
            messages: list[str]) -> dict[str, Any]:
    """Play the rep's messages against a draft (nothing is stored): each reply, its feedback and the meters after it."""
    state = engine.initial_state(scenario, difficulty)
    opening = engine.opening_line(scenario, state, lang, variant=0)
    turns: list[dict[str, Any]] = []
    messages = [m.strip() for m in messages if m.strip()][:MAX_PREVIEW_TURNS]
    for message, analysis in zip(messages, service.detector.analyse_many(messages), strict=True):
        state, result = engine.step(scenario, state, analysis.techniques, kind=analysis.kind,
                                    facts=[f.slot for f in analysis.facts], substantive=analysis.substantive)
        customer = engine.customer_line(scenario, state, result, lang)
        feedback = turn_feedback(analysis.detections, result.signal_before, result.events, message, lang,
                                 service.book, scenario)
        turns.append({"rep": message, "customer": customer, "feedback": feedback,
                      "state": engine.public_state(scenario, state)})
        if state["outcome"] is not None:
            break
    return {"opening": opening, "turns": turns, "state": engine.public_state(scenario, state),
            "done": state["outcome"] is not None or len(turns) >= MAX_PREVIEW_TURNS}
