"""Discord: bot, slash commands, delivery sinks and the outbox worker."""
