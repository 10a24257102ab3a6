"""The replay server of evals/replay_server.py (standard library only), importable from tests."""

from __future__ import annotations

import importlib.util
import sys

from app.config import ROOT

RECORDINGS = ROOT / "evals" / "recordings" / "qwen2.5-coder-1.5b-q4km.jsonl"
_spec = importlib.util.spec_from_file_location("replay_server", ROOT / "evals" / "replay_server.py")
assert _spec is not None and _spec.loader is not None
replay_server = importlib.util.module_from_spec(_spec)
sys.modules["replay_server"] = replay_server
_spec.loader.exec_module(replay_server)

ReplayServer = replay_server.ReplayServer
load_recordings = replay_server.load_recordings
