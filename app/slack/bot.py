"""The Bolt app: verifies, deduplicates and acknowledges Slack requests, then does the work after the ack."""

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
from app.slack.store import SlackStore, ThreadInfo, thread_key
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
# One turn at a time per role-play session, across processes: a turn (LLM voice included) takes well under this.
TURN_LOCK_LEASE = timedelta(seconds=120)
LOCK_POLL_S = 0.05


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
        self.lease = timedelta(seconds=settings.slack_claim_lease_s)
        self.holder = uuid.uuid4().hex[:16]  # this process, in lock holders' names
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
        self._last_prune = 0.0
        self._register()

    # -- plumbing --------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Hand one HTTP request from Slack to Bolt."""
        return await self.handler.handle(request)

    async def close(self) -> None:
        """Let in-flight work finish (bounded), so a shutdown does not cut an answer in half."""
        pending = [task for task in self._inflight if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S)

    def _track(self, work: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Wrap a listener so the work it does after the ack is tracked and its failures logged."""

        @functools.wraps(work)  # Bolt reads the wrapped signature to decide which arguments to pass
        async def listener(**kwargs: Any) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await work(**kwargs)
            except Exception:
                # The claims stay open: once their lease runs out, Slack's retry can do the work.
                log.exception("Slack handler %s failed", work.__name__)
            else:
                context = kwargs.get("context")
                claims = list(context.get("claims", [])) if context is not None else []
                await asyncio.to_thread(self.store.complete, claims)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        return listener

    async def _claim(self, key: str, context: Any) -> bool:
        """Claim a unit of work in the database; False means another delivery took it (done, or leased)."""
        claimed = await asyncio.to_thread(self.store.claim, key, self.lease)
        if claimed:
            # Marked done by the listener once the work is delivered (see _track).
            context.setdefault("claims", []).append(key)
        now = time.monotonic()
        if claimed and now - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = now
            await asyncio.to_thread(self.store.prune)
        return claimed

    def _register(self) -> None:
        app = self.app
        app.middleware(self._deduplicate)
        app.event("app_mention")(self._track(self._on_mention))
        app.event("message")(self._track(self._on_message))
        app.command("/coach")(self._track(self._on_command))
        app.action(re.compile(r"^feedback_(up|down)$"))(self._track(self._on_feedback))

    async def _deduplicate(self, req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
                           ) -> BoltResponse | None:
        """Acknowledge an event or command already claimed (a retry or a replay, even after a restart) and stop."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await self._claim(f"event:{event_id}", req.context):
            retry = req.headers.get("x-slack-retry-num", ["0"])[0]
            log.info("Slack event %s already handled; acknowledging retry %s without reprocessing", event_id, retry)
            return BoltResponse(status=200, body="")
        if body.get("command"):
            # Slack never resends a command, so an identical signed body (trigger_id included) inside the
            # five-minute signature window is a replay or a double delivery: answer it once.
            digest = hashlib.sha256(req.raw_body.encode("utf-8")).hexdigest()
            if not await self._claim(f"command:{digest}", req.context):
                log.info("identical /coach command already handled; acknowledging without reprocessing")
                return BoltResponse(status=200, body="")
        await next()
        return None

    # -- asking ----------------------------------------------------------------------------------------------

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any,
                          client: AsyncWebClient) -> None:
        await self._route(body, event, context, client, mentioned=True)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any,
                          client: AsyncWebClient) -> None:
        await self._route(body, event, context, client, mentioned=False)

    async def _route(self, body: dict[str, Any], event: dict[str, Any], context: Any, client: AsyncWebClient,
                     mentioned: bool) -> None:
        """Decide whether a message is for us (ask, or a role-play turn) and do it once per message."""
        if event.get("bot_id") or event.get("bot_profile") or event.get("subtype") not in HUMAN_SUBTYPES:
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        team = body.get("team_id") or context.team_id or ""
        if not user or not channel or not ts or user == context.bot_user_id:
            return
        thread_ts = event.get("thread_ts")
        thread = await asyncio.to_thread(self.store.thread, thread_key(team, channel, thread_ts)) if thread_ts else None
        text = fmt.plain_from_slack(event.get("text") or "", context.bot_user_id)

        if thread is not None and thread.kind == "roleplay":
            if user != thread.user:
                return  # trainers and teammates watch; only the rep plays
            action = "turn"
        elif mentioned or event.get("channel_type") == "im" or (
            thread is not None and thread.kind == "chat" and user == thread.user
        ):
            action = "ask"
        else:
            return
        # An app_mention and a message event describe the same message: whichever arrives first answers.
        if not await self._claim(f"message:{team}:{channel}:{ts}", context):
            return
        if action == "turn":
            assert thread is not None
            await self._turn(client, thread, channel, thread_ts or ts, text, await self._kb(team, channel))
        else:
            await self._ask(client, team, channel, user, text, thread_ts or ts)

    async def _kb(self, team: str, channel: str | None) -> str:
        """Return the knowledge base this workspace or channel is mapped to (`default` unless mapped)."""
        return await asyncio.to_thread(self.container.bases.for_slack, team, channel)

    async def _ask(self, client: AsyncWebClient, team: str, channel: str, user: str, question: str,
                   thread_ts: str) -> None:
        """Answer a question in its thread; the thread is the conversation."""
        lang = detect_language(question)
        problem = await self._check_question(team, user, question, lang)
        if problem:
            await self._ephemeral(client, channel, user, problem, thread_ts)
            return
        key = thread_key(team, channel, thread_ts)
        await asyncio.to_thread(self.store.add_thread, ThreadInfo(key, "chat", user))
        try:
            result = await asyncio.to_thread(self.container.chat.answer, question, f"slack:{key}", None,
                                             f"slack:{user}", "slack", await self._kb(team, channel))
        except Exception:
            log.exception("chat answer failed for a Slack question")
            await self._post(client, channel, thread_ts, {"text": fmt.t(lang, "failed")})
            return
        await self._post(client, channel, thread_ts, fmt.answer_message(result))

    async def _check_question(self, team: str, user: str, question: str, lang: str) -> str | None:
        """Return why a question cannot be asked now (empty, too long, rate limited), or None."""
        if not question:
            return fmt.t(lang, "empty")
        if len(question) > MAX_MESSAGE_CHARS:
            return fmt.t(lang, "too_long", limit=MAX_MESSAGE_CHARS)
        wait = await asyncio.to_thread(self.limiter.hit, f"slack:{team}:{user}")
        if wait:
            return fmt.t(lang, "rate_limited", limit=self.limiter.per_minute, wait=wait)
        return None

    # -- slash command ---------------------------------------------------------------------------------------

    async def _on_command(self, ack: Callable[..., Awaitable[None]], command: dict[str, Any],
                          respond: Callable[..., Awaitable[Any]], client: AsyncWebClient, context: Any) -> None:
        text = fmt.plain_from_slack(command.get("text") or "")
        verb, _, rest = text.partition(" ")
        team, user, channel = command.get("team_id", ""), command.get("user_id", ""), command.get("channel_id", "")
        if verb.lower() in HELP_WORDS:
            lang = "zh" if verb in ("帮助", "帮忙") else "en"
            scenarios = await asyncio.to_thread(self.container.roleplay.list_scenarios, await self._kb(team, channel))
            await ack(**fmt.help_message(scenarios, lang), response_type="ephemeral")
        elif verb.lower() in ROLEPLAY_WORDS:
            await self._start_roleplay(ack, respond, client, team, user, channel, rest.split(), verb)
        else:
            lang = detect_language(text)
            problem = await self._check_question(team, user, text, lang)
            if problem:
                await ack(text=problem, response_type="ephemeral")
                return
            await ack(text=fmt.t(lang, "looking"), response_type="ephemeral")
            try:
                result = await asyncio.to_thread(self.container.chat.answer, text, None, None, f"slack:{user}",
                                                 "slack", await self._kb(team, channel))
            except Exception:
                log.exception("chat answer failed for /coach")
                await respond(text=fmt.t(lang, "failed"), response_type="ephemeral", replace_original=False)
                return
            await respond(**fmt.answer_message(result, question=text), response_type="ephemeral",
                          replace_original=False)

    # -- role-play -------------------------------------------------------------------------------------------

    async def _start_roleplay(self, ack: Callable[..., Awaitable[None]], respond: Callable[..., Awaitable[Any]],
                              client: AsyncWebClient, team: str, user: str, channel: str, args: list[str],
                              verb: str) -> None:
        """Validate the command, ack it, then post the customer's opening line as a new message."""
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
        start = await asyncio.to_thread(self.container.roleplay.start, scenario["id"], lang, difficulty,
                                        f"slack:{user}", kb)
        try:
            posted = await client.chat_postMessage(channel=channel, **fmt.opening_message(start, user, lang),
                                                   **_post_args())
        except SlackApiError as exc:
            log.warning("could not post a role-play opening: %s", exc.response.get("error"))
            await respond(text=fmt.t(lang, "rp_cannot_post"), response_type="ephemeral", replace_original=False)
            return
        name = fmt.customer_name(start["scenario"], lang)
        await asyncio.to_thread(self.store.add_thread, ThreadInfo(
            thread_key(team, channel, posted["ts"]), "roleplay", user, start["session_id"], lang, name[:128]))

    async def _turn(self, client: AsyncWebClient, thread: ThreadInfo, channel: str, thread_ts: str,
                    text: str, kb: str) -> None:
        """Play one rep message (or `end`) in a role-play thread and post the reply, feedback or scorecard."""
        assert thread.session_id is not None
        lang = thread.lang or "en"
        roleplay = self.container.roleplay
        if not text:
            return
        async with self._session_lock(thread.session_id):
            try:
                if text.strip().lower().rstrip(".!。！") in END_WORDS:
                    card = await asyncio.to_thread(roleplay.end, thread.session_id, kb)
                    await self._post(client, channel, thread_ts, fmt.scorecard_message(card, lang))
                    return
                reply = await asyncio.to_thread(roleplay.turn, thread.session_id, text[:MAX_MESSAGE_CHARS], kb)
            except (ConflictError, NotFoundError):
                await self._post(client, channel, thread_ts, {"text": fmt.t(lang, "rp_ended")})
                return
            except Exception:
                log.exception("role-play turn failed")
                await self._post(client, channel, thread_ts, {"text": fmt.t(lang, "rp_failed")})
                return
            await self._post(client, channel, thread_ts, fmt.turn_message(reply, thread.customer or "", lang))
            if reply.get("done"):
                card = await asyncio.to_thread(roleplay.end, thread.session_id, kb)
                await self._post(client, channel, thread_ts, fmt.scorecard_message(card, lang))

    @asynccontextmanager
    async def _session_lock(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock in the database (one turn at a time across processes), waiting for it."""
        key, holder = f"roleplay:{session_id}", f"{self.holder}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + TURN_LOCK_LEASE.total_seconds() + 5
        while not await asyncio.to_thread(self.store.lock, key, holder, TURN_LOCK_LEASE):
            if time.monotonic() > deadline:
                raise TimeoutError(f"role-play session {session_id} stayed locked")
            await asyncio.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
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

    async def _post(self, client: AsyncWebClient, channel: str, thread_ts: str, message: dict[str, Any]) -> None:
        """Post a message in a thread; log (never raise) when Slack refuses it."""
        try:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message, **_post_args())
        except SlackApiError as exc:
            log.warning("chat.postMessage failed: %s", exc.response.get("error"))

    async def _ephemeral(self, client: AsyncWebClient, channel: str, user: str, text: str, thread_ts: str) -> None:
        """Show a message to one user only."""
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed: %s", exc.response.get("error"))
