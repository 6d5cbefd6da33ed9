"""Operator commands of the `debouncer` CLI (tune, explain, redrive): one module each.

Each module defines `register(commands)`, which adds its subparser and sets `run` (a function of the parsed
arguments returning the exit status) as its default. The CLI finds them here, so adding a command touches no other
file. Modules import what their work needs inside `run`: `debouncer serve` must not pay for them.
"""
