"""The trainers' knowledge page: upload a document (preview, then import and re-index), bad files, and the review
API for enrichment."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from tests.knowledge.test_import import retail_docx
from tests.web.conftest import TRAINER_TOKEN, sign_in_trainer, web_settings

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def upload(client: TestClient, csrf: str, name: str, data: bytes, action: str = "preview"):  # type: ignore[no-untyped-def]
    return client.post("/trainer/knowledge/import", data={"csrf": csrf, "lang": "auto", "action": action},
                       files={"file": (name, data, DOCX)})


def test_preview_then_import_and_the_new_items_are_searchable(tmp_path: Path, usem3_index: Path) -> None:
    settings = web_settings(tmp_path, usem3_index, trainer_routes=True)
    with TestClient(create_app(settings), headers={"Accept": "text/html"}) as web:
        csrf = sign_in_trainer(web)
        page = web.get("/trainer/knowledge")
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        preview = upload(web, csrf, "Store.docx", retail_docx())
        assert preview.status_code == 200
        assert "structure: 2 stages, 4 standards, 3 cautions, 2 stage goals (9 items)" in preview.text
        assert "store.s1.standard.1  Greet quickly" in preview.text
        assert not (settings.knowledge_dir / "store.en.md").exists()

        done = upload(web, csrf, "Store.docx", retail_docx(), action="import")
        assert done.status_code == 200 and "knowledge/store.en.md" in done.text
        assert (settings.knowledge_dir / "store.en.md").exists()
        hits = web.post("/v1/search", json={"query": "how soon should I greet someone walking in", "k": 3}).json()
        assert "store.s1.standard.1" in [h["id"] for h in hits["hits"]]

        # Review over the API: a trainer's lines for an item the document gave none; marked reviewed, served now.
        auth = {"Authorization": f"Bearer {TRAINER_TOKEN}"}
        assert web.get("/v1/knowledge/enrichment").status_code == 401
        assert web.get("/v1/knowledge/enrichment", headers=auth).json() == []  # no LLM: nothing generated
        saved = web.put("/v1/knowledge/enrichment/store.s1.standard.1/en", headers=auth,
                        json={"hints": "walk-in, first 30 seconds", "do": "Greet within 30 s.", "say": "Welcome in!"})
        assert saved.status_code == 200, saved.text
        assert (saved.json()["state"], saved.json()["do"]) == ("reviewed", "Greet within 30 s.")
        assert web.put("/v1/knowledge/enrichment/nope.s1.standard.1/en", headers=auth,
                       json={"do": "x"}).status_code == 404
        assert web.put("/v1/knowledge/enrichment/store.s1.standard.1/en", headers=auth,
                       json={"do": ""}).status_code == 422
        assert "Greet within 30 s." in web.get("/trainer/knowledge").text


def test_bad_uploads_get_a_4xx_that_says_what_to_send(tmp_path: Path, usem3_index: Path) -> None:
    settings = web_settings(tmp_path, usem3_index, max_import_bytes=4096)
    with TestClient(create_app(settings), headers={"Accept": "text/html"}) as web:
        csrf = sign_in_trainer(web)
        wrong = upload(web, csrf, "deck.pptx", b"PK\x03\x04 slides")
        assert wrong.status_code == 415 and "send a .md, .txt, .docx or .pdf file" in wrong.text
        empty = upload(web, csrf, "empty.txt", b"")
        assert empty.status_code == 400 and "empty.txt is empty" in empty.text
        big = upload(web, csrf, "big.txt", b"1. Greet: hello.\n" * 400)
        assert big.status_code == 413 and "larger than" in big.text
        huge = upload(web, csrf, "huge.txt", b"x" * 200_000)  # over the body limit of the upload route itself
        assert huge.status_code == 413
        assert upload(web, "not-the-token", "Store.docx", retail_docx()).status_code == 403
        assert not list(settings.knowledge_dir.glob("*.en.md"))[2:]  # only the shipped standards.en.md
