"""The app manifest matches what the code handles: one request URL, the events, scopes and the slash command."""

from __future__ import annotations

import yaml

from app.config import ROOT


def test_manifest_points_everything_at_one_request_url_and_subscribes_what_we_handle() -> None:
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text(encoding="utf-8"))
    settings, features = manifest["settings"], manifest["features"]
    urls = {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"],
            *(c["url"] for c in features["slash_commands"])}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert [c["command"] for c in features["slash_commands"]] == ["/coach"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im", "message.mpim"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read", "chat:write", "commands", "channels:history", "groups:history", "im:history",
        "mpim:history"}
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is False
