"""The use cases: ingest (buffer a webhook's messages), processing (one AI turn per burst), replying (send it once).

They speak only to the domain's ports; the adapters behind them are chosen by debouncer.wiring."""
