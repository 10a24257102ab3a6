"""The trainers' scenario editor: list, create (blank or from a copy), edit, preview a few turns, save as YAML."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.api.deps import ContainerDep
from app.api.knowledge import list_items
from app.errors import ConflictError
from app.knowledge.bases import DEFAULT
from app.limits import MAX_MESSAGE_CHARS
from app.roleplay.editor import (
    LANGS,
    MAX_PREVIEW_TURNS,
    PERSONA_FIELDS,
    FieldError,
    ScenarioFiles,
    blank_draft,
    draft_from_form,
    form_values,
    preview,
    validate,
)
from app.roleplay.scenarios import DIFFICULTIES, FACT_SLOTS, OBJECTION_SITUATIONS, SITUATIONS
from app.roleplay.techniques import TECHNIQUES
from app.web.auth import CSRF, TrainerDep
from app.web.i18n import Translator
from app.web.render import page_lang, render

router = APIRouter(prefix="/trainer/scenarios", include_in_schema=False)
ACTIONS = ("save", "preview", "preview_reset", "add_objection")
STANDARD_ID = re.compile(r"^s\d+\.[a-z]+\.\d+$")
# Pydantic's error types, as the catalogue names them (sc.err.<name>).
ERROR_NAMES = {"missing": "required", "string_too_short": "required", "too_short": "too_short_list",
               "int_parsing": "int", "int_type": "int", "int_from_float": "int", "greater_than_equal": "ge",
               "less_than_equal": "le", "string_pattern_mismatch": "pattern", "literal_error": "choice",
               "extra_forbidden": "extra"}


def scenario_files(container: Any) -> ScenarioFiles:
    """Return the editor's view of knowledge/scenarios/."""
    return ScenarioFiles.of(container.settings)


def _standards(container: Any, lang: str) -> list[tuple[str, str]]:
    """Return (id, title) of every standard a scenario can train, in the page language."""
    if container.index is None:
        return []
    found = []
    for item in list_items(container, DEFAULT).items:
        if item.source == "standards" and STANDARD_ID.match(item.id):
            text = item.langs.get(lang) or next(iter(item.langs.values()))
            found.append((item.id, text.title))
    return found


def error_text(t: Translator, error: FieldError) -> str:
    """Return a problem in the page's language (the loader's English words only for a rule the catalogue lacks)."""
    key = f"sc.err.{ERROR_NAMES.get(error.code, error.code)}"
    params = {k: (", ".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in error.params.items()}
    if key in t.messages:
        try:
            return t(key, **params)
        except (KeyError, IndexError):
            pass
    return t("sc.err.other", message=error.message)


def field_label(t: Translator, name: str) -> str:
    """Return a readable name for a form field, e.g. "objections.0.lines.reveal.zh" -> "Objection 1 · Reveal · 中文"."""
    parts: list[str] = []
    segments = name.split(".")
    for i, seg in enumerate(segments):
        if seg.isdigit() and i and segments[i - 1] == "objections":
            parts[-1] = t("sc.objection_n", n=int(seg) + 1)
        elif seg in LANGS:
            parts.append("中文" if seg == "zh" else "English")
        else:
            key = f"sc.f.{seg}"
            parts.append(t(key) if key in t.messages else seg)
    return " · ".join(parts) or t("sc.f.scenario")


def _page(request: Request, container: Any, f: dict[str, Any], *, editing: str | None, version: str | None,
          errors: list[FieldError] | None = None, status_code: int = 200, conflict: str | None = None,
          run: dict[str, Any] | None = None, said: list[str] | None = None, saved: bool = False) -> Response:
    t = Translator(page_lang(request))
    by_field: dict[str, list[str]] = {}
    summary = []
    for error in errors or []:
        text = error_text(t, error)
        by_field.setdefault(error.field, []).append(text)
        summary.append({"field": error.field, "label": field_label(t, error.field), "text": text})
    return render(
        request, "trainer/scenario_edit.html", status_code=status_code, f=f, editing=editing, version=version,
        errors=by_field, summary=summary, open_groups={name.split(".")[0] for name in by_field}, conflict=conflict,
        run=run, said=said or [], saved=saved,
        standards=_standards(container, t.lang), techniques=list(TECHNIQUES),
        technique_labels={name: tech.label for name, tech in TECHNIQUES.items()}, slots=FACT_SLOTS,
        situations=SITUATIONS, objection_situations=OBJECTION_SITUATIONS, persona_fields=PERSONA_FIELDS,
        difficulties=DIFFICULTIES, langs=LANGS, max_preview=MAX_PREVIEW_TURNS,
        preview_lang=f.get("preview_lang") or t.lang, preview_difficulty=f.get("preview_difficulty") or "",
    )


@router.get("")
def scenario_list(request: Request, _: TrainerDep, container: ContainerDep) -> Response:
    """Every scenario, with links to edit it or start a new one from a copy."""
    return render(request, "trainer/scenarios.html", scenarios=container.roleplay.list_scenarios())


@router.get("/new")
def new_scenario(request: Request, _: TrainerDep, container: ContainerDep, copy: str | None = None) -> Response:
    """A blank scenario form, or one filled from a copy of an existing scenario (with a new id to choose)."""
    if copy:
        raw, _version = scenario_files(container).read(copy)
        raw = {**raw, "id": ""}
    else:
        raw = blank_draft()
    return _page(request, container, form_values(raw), editing=None, version=None)


@router.get("/{scenario_id}")
def edit_scenario(request: Request, scenario_id: str, _: TrainerDep, container: ContainerDep,
                  saved: bool = False) -> Response:
    """The form for one scenario file, carrying the version it shows (a save over a newer file is refused)."""
    raw, version = scenario_files(container).read(scenario_id)
    return _page(request, container, form_values(raw), editing=scenario_id, version=version, saved=saved)


@router.post("/new", dependencies=[CSRF])
async def create(request: Request, _: TrainerDep, container: ContainerDep) -> Response:
    """Preview or save a new scenario."""
    return await _submit(request, container, None)


@router.post("/{scenario_id}", dependencies=[CSRF])
async def update(request: Request, scenario_id: str, _: TrainerDep, container: ContainerDep) -> Response:
    """Preview or save changes to a scenario."""
    scenario_files(container).read(scenario_id)  # 404 for a scenario that does not exist
    return await _submit(request, container, scenario_id)


async def _submit(request: Request, container: Any, editing: str | None) -> Response:
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    action = str(form.get("action") or "save")
    action = action if action in ACTIONS else "save"
    version = str(form.get("version") or "") or None
    raw = draft_from_form(pairs, add_objection=action == "add_objection")
    if editing is not None:
        raw["id"] = editing  # the id is the file name: a copy, not a rename, makes a new one
    f = {**form_values(raw), "preview_lang": str(form.get("preview_lang") or ""),
         "preview_difficulty": str(form.get("preview_difficulty") or "")}
    files = scenario_files(container)
    standards = {sid for sid, _title in _standards(container, "en")} or None
    scenario, errors = validate(raw, files.common(), standards)
    if editing is None and raw["id"] and raw["id"] in container.roleplay.scenarios:
        errors.insert(0, FieldError("id", "id_taken", {"id": raw["id"]}, "a scenario with this id exists"))
        scenario = None

    def page(**values: Any) -> Response:
        return _page(request, container, f if "f" not in values else values.pop("f"), editing=editing,
                     version=version, **values)

    if action == "add_objection":
        return page()
    said = [] if action == "preview_reset" else [str(v) for v in form.getlist("said") if isinstance(v, str)]
    if action in ("preview", "preview_reset"):
        message = str(form.get("preview_message") or "").strip()[:MAX_MESSAGE_CHARS]
        if message and action == "preview":
            said.append(message)
        if scenario is None:
            return page(errors=errors, status_code=422, said=said)
        lang = f["preview_lang"] if f["preview_lang"] in LANGS else page_lang(request)
        level = f["preview_difficulty"] if f["preview_difficulty"] in DIFFICULTIES else scenario.difficulty
        run = preview(container.roleplay, scenario, lang, level, said)
        said = [turn["rep"] for turn in run["turns"]]
        return page(f={**f, "preview_lang": lang, "preview_difficulty": level}, run=run, said=said)
    if scenario is None:
        return page(errors=errors, status_code=422, said=said)
    if editing is not None and version is None:
        return page(status_code=409, said=said, conflict=Translator(page_lang(request))("sc.no_version"))
    try:
        files.save(raw, scenario, version)
    except ConflictError as exc:
        return page(status_code=409, conflict=exc.message, said=said)
    return RedirectResponse(f"/trainer/scenarios/{scenario.id}?saved=1", status_code=303)
