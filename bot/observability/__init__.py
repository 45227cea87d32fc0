"""What operators see of the bot: Prometheus metrics (`metrics.py`, served at `GET /metrics`) and
structured logs (`logs.py`, `MLGATE_LOG_FORMAT=json`). Like the settings, every part of the bot may
import it, and it imports no other part (what the merge queue reports lives in
`mlgate.bot.queue.watch`). Nothing here decides anything."""
