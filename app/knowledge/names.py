"""Names every part of the knowledge-base feature shares, in a module light enough for the CLI to import."""

DEFAULT = "default"
# Who can be mapped to a base: a Slack workspace (team id), a Slack channel (team id:channel id), a web or API user.
KINDS = ("slack_team", "slack_channel", "user")
