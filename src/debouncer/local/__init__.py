"""The local runtime: the real handlers and state machine on an embedded AWS emulator (moto)."""
