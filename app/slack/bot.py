"""The Bolt app: verifies, deduplicates and acknowledges Slack requests, then does the work after the ack.

Every unit of work is a claim in the database that carries what doing it needs (slack/store.py). A process that
dies after the ack leaves its claims open; once their lease runs out, any process's sweeper takes them and does
the work. Replies carry the claim in Slack message metadata, so a redo first looks in the thread for what an
earlier attempt already posted, and the stored answer or turn is reused rather than computed again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ConflictError, NotFoundError
from app.limits import MAX_MESSAGE_CHARS
from app.ratelimit import RateLimiter
from app.roleplay.engine import END_WORDS
from app.slack import format as fmt
from app.slack.store import Claim, SlackStore, ThreadInfo, thread_key
from app.text import detect_language

if TYPE_CHECKING:
    from app.container import Container

log = logging.getLogger(__name__)

HELP_WORDS = {"", "help", "?", "帮助", "帮忙"}
ROLEPLAY_WORDS = {"roleplay", "role-play", "practice", "practise", "角色扮演", "练习"}
DIFFICULTY_WORDS = {"easy", "normal", "hard"}
# Message subtypes that are still a person writing; everything else (edits, deletes, joins, bots) is ignored.
HUMAN_SUBTYPES = {None, "thread_broadcast", "file_share"}
PRUNE_EVERY_S = 3600.0
DRAIN_TIMEOUT_S = 10.0
LOCK_POLL_S = 0.05
# Slack message metadata on every reply: the claim it answers, so a redo can see what was already posted.
REPLY_EVENT = "coach_reply"
# A delivery that failed this many times (a bug, not a crash) is given up on rather than retried for ever.
MAX_ATTEMPTS = 5
SWEEP_BATCH = 20


def _post_args() -> dict[str, Any]:
    # Links in retrieved or generated text must never unfurl into previews.
    return {"unfurl_links": False, "unfurl_media": False}


class SlackBot:
    """The Slack side of the coach: one Bolt app on one request URL, backed by the chat and role-play services."""

    def __init__(self, container: Container) -> None:
        settings = container.settings
        assert settings.slack_signing_secret is not None and settings.slack_bot_token is not None
        self.container = container
        self.store = SlackStore(container.database)
        self.limiter = RateLimiter(container.database, settings.slack_rate_limit_per_minute)
        # A claim, and a role-play's turn lock, not renewed within this long belongs to a dead process.
        self.lease = timedelta(seconds=settings.slack_claim_lease_s)
        self.sweep_every = settings.slack_sweep_interval_s
        self.holder = uuid.uuid4().hex[:16]  # this process, in claim and lock holders' names
        self.app = AsyncApp(
            token=settings.slack_bot_token.get_secret_value(),
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            process_before_response=False,
            raise_error_for_unhandled_request=False,
            name="sales-coach",
        )
        # Bolt copies the app client's base URL into every request's client, so tests can point it at a fake.
        client: AsyncWebClient = self.app.client
        client.base_url = settings.slack_api_url
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        self.handler = AsyncSlackRequestHandler(self.app)
        self._inflight: set[asyncio.Task[Any]] = set()
        self._held: set[str] = set()  # claims this process is working on (their leases are renewed)
        self._locks: dict[str, str] = {}  # role-play locks this process holds: key -> holder
        self._sweeper: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._register()

    # -- plumbing --------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Hand one HTTP request from Slack to Bolt."""
        return await self.handler.handle(request)

    def start(self) -> None:
        """Start the sweeper (call from the running event loop, e.g. the app's lifespan)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="slack-sweeper")

    async def close(self) -> None:
        """Stop sweeping and let in-flight work finish (bounded), so a shutdown does not cut an answer in half."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        pending = [task for task in self._inflight if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S)

    async def _sweep_forever(self) -> None:
        """Renew the leases of this process's work; take and do work whose process died (lease out, not done)."""
        tick = min(self.sweep_every, self.lease.total_seconds() / 3)
        next_sweep = 0.0
        while True:
            try:
                await asyncio.to_thread(self._renew)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_every
                    claims = await asyncio.to_thread(self.store.take_expired, self.lease, self.holder, SWEEP_BATCH)
                    for claim in claims:
                        self._held.add(claim.key)
                        log.info("taking over Slack work %s (attempt %d): its process stopped before finishing",
                                 claim.key.split(":")[0], claim.attempts)
                        task = asyncio.create_task(self._work(claim, self.app.client))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Slack sweeper pass failed; trying again")
            await asyncio.sleep(tick)

    def _renew(self) -> None:
        self.store.renew(list(self._held), self.holder, self.lease)
        for key, holder in list(self._locks.items()):
            self.store.renew_lock(key, holder, self.lease)

    async def _work(self, claim: Claim, client: AsyncWebClient, ack: Callable[..., Awaitable[Any]] | None = None,
                    respond: Callable[..., Awaitable[Any]] | None = None) -> None:
        """Do one claim's work and mark it done; on failure leave it open, so a sweeper retries it after its lease."""
        task = asyncio.current_task()
        tracked = task is not None and task not in self._inflight
        if tracked:
            self._inflight.add(task)  # type: ignore[arg-type]
        self._held.add(claim.key)
        try:
            if claim.attempts > MAX_ATTEMPTS:
                log.error("giving up Slack work %s after %d attempts", claim.key.split(":")[0], claim.attempts - 1)
            else:
                await self._do(claim, client, ack, respond)
        except Exception:
            log.exception("Slack work %s failed; it is retried once its lease runs out", claim.key.split(":")[0])
        else:
            await asyncio.to_thread(self.store.complete, [claim.key])
        finally:
            self._held.discard(claim.key)
            if tracked:
                self._inflight.discard(task)  # type: ignore[arg-type]

    async def _do(self, claim: Claim, client: AsyncWebClient, ack: Callable[..., Awaitable[Any]] | None,
                  respond: Callable[..., Awaitable[Any]] | None) -> None:
        kind = claim.payload.get("kind")
        if kind == "event":
            follow = await self._route(claim.payload)
            if follow is not None:
                # The message's own claim carries its work from here on, so the delivery's claim is done.
                job = await self._take(*follow)
                await asyncio.to_thread(self.store.complete, [claim.key])
                if job is not None:
                    await self._work(job, client)
        elif kind == "ask":
            await self._ask(client, claim)
        elif kind == "turn":
            await self._turn(client, claim)
        elif kind == "command":
            if ack is None or respond is None:  # a redo: the HTTP ack is long gone, the response_url is not
                respond = AsyncRespond(response_url=claim.payload.get("response_url"))
                ack = functools.partial(respond, replace_original=True)
            await self._command(claim, ack, respond, client)

    async def _take(self, key: str, payload: dict[str, Any]) -> Claim | None:
        """Claim a unit of work in the database; None means another delivery took it (done, or leased)."""
        claim = await asyncio.to_thread(self.store.take, key, self.lease, self.holder, payload)
        now = time.monotonic()
        if claim is not None and now - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = now
            await asyncio.to_thread(self.store.prune)
        return claim

    def _register(self) -> None:
        app = self.app
        app.middleware(self._deduplicate)
        app.event("app_mention")(self._on_event)
        app.event("message")(self._on_event)
        app.command("/coach")(self._on_command)
        app.action(re.compile(r"^feedback_(up|down)$"))(self._tracked(self._on_feedback))

    async def _deduplicate(self, req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
                           ) -> BoltResponse | None:
        """Claim an event or command with what doing it needs; acknowledge one already claimed and stop."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            payload = {"kind": "event", "team": body.get("team_id") or req.context.team_id or "",
                       "bot_user": req.context.bot_user_id, "event": _event_payload(body.get("event") or {})}
            claim = await self._take(f"event:{event_id}", payload)
            if claim is None:
                retry = req.headers.get("x-slack-retry-num", ["0"])[0]
                log.info("Slack event %s already handled; acknowledging retry %s without reprocessing", event_id,
                         retry)
                return BoltResponse(status=200, body="")
            req.context["claim"] = claim
        if body.get("command"):
            # Slack never resends a command, so an identical signed body (trigger_id included) inside the
            # five-minute signature window is a replay or a double delivery: answer it once.
            digest = hashlib.sha256(req.raw_body.encode("utf-8")).hexdigest()
            payload = {"kind": "command", "team": body.get("team_id", ""), "user": body.get("user_id", ""),
                       "channel": body.get("channel_id", ""), "text": _cap(body.get("text") or ""),
                       # Valid for 30 minutes and 5 posts; it is how a redo still answers privately.
                       "response_url": body.get("response_url")}
            claim = await self._take(f"command:{digest}", payload)
            if claim is None:
                log.info("identical /coach command already handled; acknowledging without reprocessing")
                return BoltResponse(status=200, body="")
            req.context["claim"] = claim
        await next()
        return None

    def _tracked(self, listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Wrap a listener that needs no claim so that a shutdown still waits for it."""

        @functools.wraps(listener)  # Bolt reads the wrapped signature to decide which arguments to pass
        async def tracked(**kwargs: Any) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await listener(**kwargs)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        return tracked

    async def _on_event(self, context: Any, client: AsyncWebClient) -> None:
        claim = context.get("claim")
        if claim is not None:
            await self._work(claim, client)

    async def _on_command(self, ack: Callable[..., Awaitable[None]], respond: Callable[..., Awaitable[Any]],
                          client: AsyncWebClient, context: Any) -> None:
        claim = context.get("claim")
        if claim is not None:
            await self._work(claim, client, ack, respond)

    # -- asking ----------------------------------------------------------------------------------------------

    async def _route(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Decide whether a message is for us (ask, or a role-play turn); return its claim key and work, or None."""
        event, team, bot_user = payload["event"], payload["team"], payload.get("bot_user")
        if event.get("bot_id") or event.get("bot_profile") or event.get("subtype") not in HUMAN_SUBTYPES:
            return None
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not user or not channel or not ts or user == bot_user:
            return None
        thread_ts = event.get("thread_ts")
        thread = await asyncio.to_thread(self.store.thread, thread_key(team, channel, thread_ts)) if thread_ts else None
        text = fmt.plain_from_slack(event.get("text") or "", bot_user)
        work = {"team": team, "channel": channel, "user": user, "text": text, "thread_ts": thread_ts or ts}
        if thread is not None and thread.kind == "roleplay":
            if user != thread.user:
                return None  # trainers and teammates watch; only the rep plays
            work |= {"kind": "turn", "thread": thread.key}
        elif event.get("type") == "app_mention" or event.get("channel_type") == "im" or (
            thread is not None and thread.kind == "chat" and user == thread.user
        ):
            work |= {"kind": "ask"}
        else:
            return None
        # An app_mention and a message event describe the same message: whichever arrives first answers.
        return f"message:{team}:{channel}:{ts}", work

    async def _kb(self, team: str, channel: str | None) -> str:
        """Return the knowledge base this workspace or channel is mapped to (`default` unless mapped)."""
        return await asyncio.to_thread(self.container.bases.for_slack, team, channel)

    async def _ask(self, client: AsyncWebClient, claim: Claim) -> None:
        """Answer a question in its thread; the thread is the conversation."""
        work = claim.payload
        team, channel, user, question, thread_ts = (work[k] for k in ("team", "channel", "user", "text", "thread_ts"))
        lang = detect_language(question)
        # A redo does not count against the asker's rate limit again: the question was let through once.
        problem = await self._check_question(team, user, question, lang, count=not claim.retaken)
        if problem:
            await self._ephemeral(client, channel, user, problem, thread_ts)
            return
        key = thread_key(team, channel, thread_ts)
        await asyncio.to_thread(self.store.add_thread, ThreadInfo(key, "chat", user))
        posted = await self._posted(client, claim, channel, thread_ts)
        if "answer" in posted:
            return
        kb = await self._kb(team, channel)
        try:
            result = await self._answer(claim, question, f"slack:{key}", user, kb)
        except Exception:
            log.exception("chat answer failed for a Slack question")
            await self._post(client, claim, "answer", channel, thread_ts, {"text": fmt.t(lang, "failed")})
            return
        await self._post(client, claim, "answer", channel, thread_ts, fmt.answer_message(result))

    async def _answer(self, claim: Claim, question: str, conversation_id: str | None, user: str, kb: str) -> Any:
        """Answer once per claim: the answer's id comes from the claim, so a redo finds the stored answer."""
        message_id = "msg_" + hashlib.sha256(claim.key.encode()).hexdigest()[:20]
        chat = self.container.chat
        if claim.retaken:
            try:
                stored = await asyncio.to_thread(chat.stored_answer, message_id, kb)
            except NotFoundError:
                pass
            else:
                from app.coaching.service import ChatResult, Citation

                return ChatResult(stored["content"], [Citation(**c) for c in stored["citations"]],
                                  stored["language"], stored["status"], stored["conversation_id"], message_id)
        return await asyncio.to_thread(chat.answer, question, conversation_id, None, f"slack:{user}", "slack", kb,
                                       None, message_id)

    async def _check_question(self, team: str, user: str, question: str, lang: str, count: bool = True) -> str | None:
        """Return why a question cannot be asked now (empty, too long, rate limited), or None."""
        if not question:
            return fmt.t(lang, "empty")
        if len(question) > MAX_MESSAGE_CHARS:
            return fmt.t(lang, "too_long", limit=MAX_MESSAGE_CHARS)
        wait = await asyncio.to_thread(self.limiter.hit, f"slack:{team}:{user}") if count else 0
        if wait:
            return fmt.t(lang, "rate_limited", limit=self.limiter.per_minute, wait=wait)
        return None

    # -- slash command ---------------------------------------------------------------------------------------

    async def _command(self, claim: Claim, ack: Callable[..., Awaitable[Any]], respond: Callable[..., Awaitable[Any]],
                       client: AsyncWebClient) -> None:
        work = claim.payload
        text = fmt.plain_from_slack(work.get("text") or "")
        verb, _, rest = text.partition(" ")
        team, user, channel = work.get("team", ""), work.get("user", ""), work.get("channel", "")
        if verb.lower() in HELP_WORDS:
            lang = "zh" if verb in ("帮助", "帮忙") else "en"
            scenarios = await asyncio.to_thread(self.container.roleplay.list_scenarios, await self._kb(team, channel))
            await ack(**fmt.help_message(scenarios, lang), response_type="ephemeral")
        elif verb.lower() in ROLEPLAY_WORDS:
            await self._start_roleplay(claim, ack, respond, client, rest.split(), verb)
        else:
            lang = detect_language(text)
            problem = await self._check_question(team, user, text, lang, count=not claim.retaken)
            if problem:
                await ack(text=problem, response_type="ephemeral")
                return
            await ack(text=fmt.t(lang, "looking"), response_type="ephemeral")
            # The answer replaces the "looking" note; a redo replaces it again, so the asker sees one answer.
            try:
                result = await self._answer(claim, text, None, user, await self._kb(team, channel))
            except Exception:
                log.exception("chat answer failed for /coach")
                await respond(text=fmt.t(lang, "failed"), response_type="ephemeral", replace_original=True)
                return
            await respond(**fmt.answer_message(result, question=text), response_type="ephemeral",
                          replace_original=True)

    # -- role-play -------------------------------------------------------------------------------------------

    async def _start_roleplay(self, claim: Claim, ack: Callable[..., Awaitable[Any]],
                              respond: Callable[..., Awaitable[Any]], client: AsyncWebClient, args: list[str],
                              verb: str) -> None:
        """Validate the command, ack it, then post the customer's opening line as a new message."""
        team, user, channel = (claim.payload.get(k, "") for k in ("team", "user", "channel"))
        kb = await self._kb(team, channel)
        scenarios = await asyncio.to_thread(self.container.roleplay.list_scenarios, kb)
        words = [a.lower() for a in args]
        lang = next((w for w in words if w in ("zh", "en")), "zh" if re.search(r"[\u4e00-\u9fff]", verb) else "en")
        difficulty = next((w for w in words if w in DIFFICULTY_WORDS), None)
        names = [w for w in args if w.lower() not in {"zh", "en", *DIFFICULTY_WORDS}]
        choices = fmt.scenario_choices(scenarios)
        if not names:
            await ack(text=fmt.t(lang, "rp_usage", choices=choices), response_type="ephemeral")
            return
        scenario = next((s for s in scenarios if s["id"] == names[0].lower()), None)
        if scenario is None:
            unknown = fmt.t(lang, "rp_unknown", scenario=fmt.escape(names[0][:64]), choices=choices)
            await ack(text=unknown, response_type="ephemeral")
            return
        await ack(text=fmt.t(lang, "rp_starting", title=fmt.escape(scenario["title"][lang])), response_type="ephemeral")
        # The session id comes from the claim, so a redo finds the session an earlier attempt opened.
        session_id = hashlib.sha256(claim.key.encode()).hexdigest()[:32]
        start = await self._opened(session_id, kb) if claim.retaken else None
        if start is None:
            start = await asyncio.to_thread(self.container.roleplay.start, scenario["id"], lang, difficulty,
                                            f"slack:{user}", kb, session_id)
        posted = await self._posted(client, claim, channel, None)
        ts = posted.get("opening")
        if ts is None:
            try:
                sent = await client.chat_postMessage(channel=channel, **fmt.opening_message(start, user, lang),
                                                     metadata=_reply_metadata(claim, "opening"), **_post_args())
            except SlackApiError as exc:
                log.warning("could not post a role-play opening: %s", exc.response.get("error"))
                await respond(text=fmt.t(lang, "rp_cannot_post"), response_type="ephemeral", replace_original=True)
                return
            ts = sent["ts"]
        name = fmt.customer_name(start["scenario"], lang)
        await asyncio.to_thread(self.store.add_thread, ThreadInfo(
            thread_key(team, channel, ts), "roleplay", user, start["session_id"], lang, name[:128]))

    async def _opened(self, session_id: str, kb: str) -> dict[str, Any] | None:
        """Return the start of a session an earlier attempt opened, as RoleplayService.start returned it, or None."""
        try:
            session = await asyncio.to_thread(self.container.roleplay.get, session_id, kb)
        except NotFoundError:
            return None
        return {"session_id": session_id, "customer": session["transcript"][0]["text"],
                "scenario": session["scenario"], "state": session["state"]}

    async def _turn(self, client: AsyncWebClient, claim: Claim) -> None:
        """Play one rep message (or `end`) in a role-play thread and post the reply, feedback or scorecard."""
        work = claim.payload
        thread = await asyncio.to_thread(self.store.thread, work["thread"])
        text, channel, thread_ts = work["text"], work["channel"], work["thread_ts"]
        if thread is None or thread.session_id is None or not text:
            return
        lang = thread.lang or "en"
        kb = await self._kb(work["team"], channel)
        roleplay = self.container.roleplay
        posted = await self._posted(client, claim, channel, thread_ts)
        async with self._session_lock(thread.session_id):
            try:
                if text.strip().lower().rstrip(".!。！") in END_WORDS:
                    card = await asyncio.to_thread(roleplay.end, thread.session_id, kb)
                    await self._post(client, claim, "scorecard", channel, thread_ts,
                                     fmt.scorecard_message(card, lang), posted)
                    return
                message = text[:MAX_MESSAGE_CHARS]
                reply = await self._played(thread.session_id, work.get("n"), message, kb) if claim.retaken else None
                if reply is None:
                    # Note which turn this is before playing it, so a redo can tell whether it was saved.
                    session = await asyncio.to_thread(roleplay.get, thread.session_id, kb)
                    n = sum(1 for t in session["transcript"] if t["role"] == "rep") + 1
                    await asyncio.to_thread(self.store.note, claim.key, self.holder, {**work, "n": n})
                    reply = await asyncio.to_thread(roleplay.turn, thread.session_id, message, kb)
            except (ConflictError, NotFoundError):
                await self._post(client, claim, "reply", channel, thread_ts, {"text": fmt.t(lang, "rp_ended")}, posted)
                return
            except Exception:
                log.exception("role-play turn failed")
                await self._post(client, claim, "reply", channel, thread_ts, {"text": fmt.t(lang, "rp_failed")},
                                 posted)
                return
            await self._post(client, claim, "reply", channel, thread_ts,
                             fmt.turn_message(reply, thread.customer or "", lang), posted)
            if reply.get("done"):
                card = await asyncio.to_thread(roleplay.end, thread.session_id, kb)
                await self._post(client, claim, "scorecard", channel, thread_ts, fmt.scorecard_message(card, lang),
                                 posted)

    async def _played(self, session_id: str, n: int | None, message: str, kb: str) -> dict[str, Any] | None:
        """Return turn `n` as RoleplayService.turn returned it, if an earlier attempt saved it with this message."""
        if n is None:
            return None
        session = await asyncio.to_thread(self.container.roleplay.get, session_id, kb)
        rep = [t for t in session["transcript"] if t["role"] == "rep" and t["turn"] == n]
        customer = [t for t in session["transcript"] if t["role"] == "customer" and t["turn"] == n]
        if not rep or not customer or rep[0]["text"] != message.strip():
            return None
        state = session["state"]
        return {"customer": customer[0]["text"], "feedback": rep[0].get("feedback") or [], "state": state,
                "done": state.get("outcome") is not None}

    @asynccontextmanager
    async def _session_lock(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock in the database (one turn at a time across processes), waiting for it."""
        key, holder = f"roleplay:{session_id}", f"{self.holder}:{uuid.uuid4().hex[:8]}"
        # The lock is renewed while held (see _renew), so only a dead holder's lock runs out.
        deadline = time.monotonic() + self.lease.total_seconds() + 30
        while not await asyncio.to_thread(self.store.lock, key, holder, self.lease):
            if time.monotonic() > deadline:
                raise TimeoutError(f"role-play session {session_id} stayed locked")
            await asyncio.sleep(LOCK_POLL_S)
        self._locks[key] = holder
        try:
            yield
        finally:
            self._locks.pop(key, None)
            await asyncio.to_thread(self.store.unlock, key, holder)

    # -- feedback buttons ------------------------------------------------------------------------------------

    async def _on_feedback(self, ack: Callable[..., Awaitable[None]], action: dict[str, Any],
                           respond: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        await ack()
        rating = fmt.FEEDBACK_ACTIONS[action["action_id"]]
        lang = "zh" if str(action.get("block_id", "")).endswith(":zh") else "en"
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        kb = await self._kb(team, (body.get("channel") or {}).get("id"))
        try:
            await asyncio.to_thread(self.container.chat.feedback, str(action.get("value", "")), rating, None, kb)
        except NotFoundError:
            await respond(text=fmt.t(lang, "feedback_gone"), response_type="ephemeral", replace_original=False)
            return
        await respond(text=fmt.t(lang, f"thanks_{rating}"), response_type="ephemeral", replace_original=False)

    # -- posting ---------------------------------------------------------------------------------------------

    async def _post(self, client: AsyncWebClient, claim: Claim, part: str, channel: str, thread_ts: str,
                    message: dict[str, Any], posted: dict[str, str] | None = None) -> None:
        """Post `part` of a claim's reply in a thread (unless already posted); log (never raise) when Slack refuses."""
        if posted is not None and part in posted:
            return
        try:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message,
                                          metadata=_reply_metadata(claim, part), **_post_args())
        except SlackApiError as exc:
            log.warning("chat.postMessage failed: %s", exc.response.get("error"))

    async def _posted(self, client: AsyncWebClient, claim: Claim, channel: str, thread_ts: str | None
                      ) -> dict[str, str]:
        """Return the parts of this claim's reply that an earlier attempt posted (part -> ts); {} on a first try.

        They are found by their metadata in the thread (conversations.replies) or, for a new message, in the
        channel since the claim was made (conversations.history). When Slack cannot be asked, {}: better a rare
        second reply than a question left unanswered.
        """
        if not claim.retaken:
            return {}
        found: dict[str, str] = {}
        cursor: str | None = None
        try:
            for _ in range(20):  # pages of 200 messages: far more than any thread we take part in
                args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
                if cursor:
                    args["cursor"] = cursor
                if thread_ts is not None:
                    page = await client.conversations_replies(ts=thread_ts, **args)
                else:
                    since = claim.created_at.timestamp() - 60 if claim.created_at else 0
                    page = await client.conversations_history(oldest=f"{since:.6f}", **args)
                for msg in page.get("messages") or []:
                    meta = msg.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if meta.get("event_type") == REPLY_EVENT and payload.get("claim") == claim.key:
                        found[str(payload.get("part"))] = msg.get("ts", "")
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            if data.get("error") != "thread_not_found":
                log.warning("could not look for earlier replies (%s); replying anyway", data.get("error", "no answer"))
        return found

    async def _ephemeral(self, client: AsyncWebClient, channel: str, user: str, text: str, thread_ts: str) -> None:
        """Show a message to one user only."""
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed: %s", exc.response.get("error"))


def _reply_metadata(claim: Claim, part: str) -> dict[str, Any]:
    return {"event_type": REPLY_EVENT, "event_payload": {"claim": claim.key, "part": part}}


def _cap(text: str) -> str:
    # Enough to answer or to tell the asker the text is too long; no more is kept.
    return text[:MAX_MESSAGE_CHARS + 1]


EVENT_FIELDS = ("type", "user", "channel", "ts", "thread_ts", "channel_type", "subtype", "bot_id")


def _event_payload(event: dict[str, Any]) -> dict[str, Any]:
    """Return what routing and answering an event need, and nothing else."""
    kept: dict[str, Any] = {k: event[k] for k in EVENT_FIELDS if event.get(k) is not None}
    kept["text"] = _cap(str(event.get("text") or ""))
    if event.get("bot_profile"):
        kept["bot_profile"] = True
    return kept
