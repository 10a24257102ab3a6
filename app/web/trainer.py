"""Pages for trainers: sign in, team dashboard with the heatmap, session review, assignments, knowledge gaps, CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from app.api.deps import ContainerDep
from app.api.knowledge import list_items
from app.errors import BadRequestError
from app.knowledge.bases import DEFAULT
from app.web.auth import CSRF, TrainerDep, check_token, safe_next
from app.web.render import render

router = APIRouter(prefix="/trainer", include_in_schema=False)
Note = Annotated[str, Form(max_length=2000)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/sign-in")
def sign_in(request: Request, container: ContainerDep, next: str | None = None) -> Response:
    """The trainer sign-in form (a token from COACH_TRAINER_TOKENS)."""
    return render(request, "trainer/sign_in.html", next=safe_next(next, "/trainer"), error=None,
                  enabled=bool(container.settings.trainer_token_list))


@router.post("/sign-in", dependencies=[CSRF])
def sign_in_submit(
    request: Request, container: ContainerDep, token: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form()] = "/trainer",
) -> Response:
    """Check the token and remember the trainer in the signed, HttpOnly session cookie."""
    tokens = container.settings.trainer_token_list
    if not tokens or not check_token(token.strip(), tokens):
        return render(request, "trainer/sign_in.html", status_code=401, next=safe_next(next, "/trainer"),
                      error="trainer.bad_token", enabled=bool(tokens))
    request.session["trainer"] = True
    return _see_other(safe_next(next, "/trainer"))


@router.post("/sign-out", dependencies=[CSRF])
def sign_out(request: Request) -> RedirectResponse:
    """End the trainer sign-in on this browser."""
    request.session.pop("trainer", None)
    return _see_other("/trainer/sign-in")


def trainer_kb(request: Request, container: ContainerDep) -> str:
    """Return the knowledge base this trainer is looking at (chosen on the dashboard; `default` at first)."""
    kb = request.session.get("kb")
    if not isinstance(kb, str) or kb == DEFAULT or kb not in container.bases.names():
        return DEFAULT
    return kb


KbDep = Annotated[str, Depends(trainer_kb)]


def _titles(container: Any, kb: str) -> dict[str, dict[str, str]]:
    return {s["id"]: s["title"] for s in container.roleplay.list_scenarios(kb)}


def _standard_titles(container: Any, kb: str) -> dict[str, dict[str, str]]:
    if kb == DEFAULT and container.index is None:
        return {}
    items = list_items(container, kb).items
    return {item.id: {lang: text.title for lang, text in item.langs.items()} for item in items}


def _bases(container: Any, kb: str) -> dict[str, Any]:
    """Return what the knowledge-base switch on trainer pages shows."""
    return {"kb": kb, "kb_names": container.bases.names()}


@router.post("/kb", dependencies=[CSRF])
def switch_kb(request: Request, _: TrainerDep, container: ContainerDep, kb: Annotated[str, Form(max_length=60)],
              next: Annotated[str, Form()] = "/trainer") -> RedirectResponse:
    """Look at another knowledge base's sessions, heatmap and gaps."""
    request.session["kb"] = container.bases.get(kb).name  # 400 for an unknown base
    return _see_other(safe_next(next, "/trainer"))


@router.get("")
def dashboard(request: Request, _: TrainerDep, container: ContainerDep, kb: KbDep) -> Response:
    """The team: sessions and averages per rep and scenario, the heatmap, assignments and their status."""
    training = container.training
    return render(request, "trainer/dashboard.html", groups=training.rep_scenarios(kb=kb),
                  heat=training.heatmap(kb=kb), assignments=training.assignments(kb=kb),
                  scenarios=container.roleplay.list_scenarios(kb),
                  titles=_titles(container, kb), standard_titles=_standard_titles(container, kb), one_rep=None,
                  sessions=training.sessions(kb=kb)[:20], today=date.today().isoformat(), **_bases(container, kb))


@router.get("/reps/{rep}")
def rep_page(request: Request, rep: str, _: TrainerDep, container: ContainerDep, kb: KbDep) -> Response:
    """One rep: their sessions, heatmap row and assignments."""
    training = container.training
    return render(request, "trainer/dashboard.html", groups=training.rep_scenarios(rep, kb=kb),
                  heat=training.heatmap(rep, kb=kb), assignments=training.assignments(rep, kb=kb),
                  scenarios=container.roleplay.list_scenarios(kb),
                  titles=_titles(container, kb), standard_titles=_standard_titles(container, kb), one_rep=rep,
                  sessions=training.sessions(rep, kb=kb), today=date.today().isoformat(), **_bases(container, kb))


@router.get("/sessions/{session_id}")
def review(request: Request, session_id: str, _: TrainerDep, container: ContainerDep, kb: KbDep) -> Response:
    """Review a session: the transcript with feedback and comments pinned per turn, verdict and score overrides."""
    session = container.training.review(session_id, kb=kb)
    return render(request, "trainer/review.html", s=session, card=session["scorecard"],
                  titles=_titles(container, kb))


@router.post("/sessions/{session_id}/comments", dependencies=[CSRF])
def comment(request: Request, session_id: str, _: TrainerDep, container: ContainerDep, kb: KbDep,
            turn: Annotated[int, Form(ge=0)], text: Note) -> RedirectResponse:
    """Pin a comment to a turn."""
    container.training.add_comment(session_id, turn, text, kb=kb)
    return _see_other(f"/trainer/sessions/{session_id}#turn-{turn}")


@router.post("/sessions/{session_id}/verdicts", dependencies=[CSRF])
def override_verdict(
    request: Request, session_id: str, _: TrainerDep, container: ContainerDep, kb: KbDep,
    standard: Annotated[str, Form(max_length=64)], original: Annotated[str, Form(max_length=16)],
    verdict: Annotated[str, Form(max_length=16)], reason: Note = "",
) -> RedirectResponse:
    """Override the verdict of one scorecard row."""
    container.training.override_verdict(session_id, standard, original, verdict, reason, kb=kb)
    return _see_other(f"/trainer/sessions/{session_id}#rubric")


@router.post("/sessions/{session_id}/score", dependencies=[CSRF])
def override_score(
    request: Request, session_id: str, _: TrainerDep, container: ContainerDep, kb: KbDep,
    score: Annotated[str, Form(max_length=3)] = "", reason: Note = "",
) -> RedirectResponse:
    """Override the session's score (empty removes the override)."""
    value = score.strip()
    if value and not value.isdigit():
        raise BadRequestError("the score must be a whole number from 0 to 100")
    container.training.override_score(session_id, int(value) if value else None, reason, kb=kb)
    return _see_other(f"/trainer/sessions/{session_id}#score")


@router.post("/assignments", dependencies=[CSRF])
def assign(
    request: Request, _: TrainerDep, container: ContainerDep, kb: KbDep, scenario: Annotated[str, Form(max_length=64)],
    reps: Annotated[str, Form(max_length=2000)], due: Annotated[date, Form()],
    min_score: Annotated[int, Form(ge=0, le=100)] = 70, next: Annotated[str, Form()] = "/trainer",
) -> RedirectResponse:
    """Assign a scenario to reps (comma- or line-separated names) with a due date and a minimum score."""
    names = [n for part in reps.replace("\n", ",").split(",") if (n := " ".join(part.split()))]
    container.training.assign(scenario, names, due, min_score, kb=kb)
    return _see_other(safe_next(next, "/trainer") + "#assignments")


@router.post("/assignments/{assignment_id}/delete", dependencies=[CSRF])
def unassign(request: Request, assignment_id: int, _: TrainerDep, container: ContainerDep,
             kb: KbDep) -> RedirectResponse:
    """Remove an assignment."""
    container.training.remove_assignment(assignment_id, kb=kb)
    return _see_other("/trainer#assignments")


@router.get("/gaps")
def gaps(request: Request, _: TrainerDep, container: ContainerDep, kb: KbDep) -> Response:
    """The questions the standards did not answer well: link each to a standard, or mark it out of scope."""
    items = list_items(container, kb).items if kb != DEFAULT or container.index is not None else []
    return render(request, "trainer/gaps.html", rows=container.training.gaps(kb=kb), items=items,
                  **_bases(container, kb))


@router.post("/gaps/link", dependencies=[CSRF])
def link_gap(
    request: Request, _: TrainerDep, container: ContainerDep, kb: KbDep,
    question: Annotated[str, Form(max_length=4000)], language: Annotated[str, Form(pattern="^(zh|en)$")],
    item: Annotated[str, Form(max_length=128)],
) -> RedirectResponse:
    """Link a question to a standard; the next `coach ingest` adds it to that standard's search phrases."""
    known = {i.id for i in list_items(container, kb).items}
    if item not in known:
        raise BadRequestError(f"unknown standard {item!r}; pick one from the list")
    container.training.link_gap(question, language, item, container.bases.get(kb).folder)
    return _see_other("/trainer/gaps")


@router.post("/gaps/out-of-scope", dependencies=[CSRF])
def out_of_scope(
    request: Request, _: TrainerDep, container: ContainerDep, question: Annotated[str, Form(max_length=4000)],
    language: Annotated[str, Form(pattern="^(zh|en)$")],
) -> RedirectResponse:
    """Mark a question as outside what the standards should cover."""
    container.training.mark_out_of_scope(question, language)
    return _see_other("/trainer/gaps")


def _csv(body: str, name: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/sessions.csv")
def sessions_csv(_: TrainerDep, container: ContainerDep, kb: KbDep, rep: str | None = None) -> Response:
    """Export sessions as CSV (formula-safe)."""
    return _csv(container.training.sessions_csv(rep, kb=kb), "sessions.csv")


@router.get("/heatmap.csv")
def heatmap_csv(_: TrainerDep, container: ContainerDep, kb: KbDep) -> Response:
    """Export the heatmap as CSV (formula-safe)."""
    return _csv(container.training.heatmap_csv(kb=kb), "heatmap.csv")


@router.get("/knowledge")
def knowledge_page(request: Request, _: TrainerDep, container: ContainerDep) -> Response:
    """Import a standards document, and review the enrichment a model wrote for items that had none."""
    from app.knowledge.review import enrichment_rows

    return render(request, "trainer/knowledge.html", report=None, error=None, rows=enrichment_rows(container),
                  max_mb=container.settings.max_import_bytes // (1024 * 1024))


@router.post("/knowledge/import", dependencies=[CSRF])
async def knowledge_import(
    request: Request, _: TrainerDep, container: ContainerDep, file: Annotated[UploadFile, File()],
    lang: Annotated[str, Form(pattern="^(auto|zh|en)$")] = "auto",
    action: Annotated[str, Form(pattern="^(preview|import)$")] = "preview",
) -> Response:
    """Preview what the importer finds in a document, or write it to knowledge/ and rebuild the index."""
    from starlette.concurrency import run_in_threadpool

    from app.knowledge.review import enrichment_rows, import_upload

    limit = container.settings.max_import_bytes
    data = await file.read(limit + 1)
    report = await run_in_threadpool(import_upload, container, data, file.filename or "", lang, action == "import")
    return render(request, "trainer/knowledge.html", report=report, error=None, rows=enrichment_rows(container),
                  max_mb=limit // (1024 * 1024))


@router.post("/knowledge/enrichment", dependencies=[CSRF])
def knowledge_review(
    request: Request, _: TrainerDep, container: ContainerDep, item: Annotated[str, Form(max_length=128)],
    language: Annotated[str, Form(pattern="^(zh|en)$")], hints: Annotated[str, Form(max_length=4000)] = "",
    do: Annotated[str, Form(max_length=1000)] = "", avoid: Annotated[str, Form(max_length=1000)] = "",
    say: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    """Save a trainer's version of an item's generated enrichment (marked reviewed) and rebuild the index."""
    from app.knowledge.review import review_item

    review_item(container, item, language, {"hints": hints, "do": do, "avoid": avoid, "say": say})
    return _see_other("/trainer/knowledge#enrichment")
