"""The windows `debouncer tune` tries: light enough for the command line to import for its help, without the
simulation and the use cases behind it."""

# variables.tf: debounce_seconds and max_wait_seconds are whole seconds in these ranges, and main.tf checks
# max_wait_seconds >= debounce_seconds (tenants' settings alike).
DEBOUNCE_RANGE = (1, 3600)
MAX_WAIT_RANGE = (1, 86_400)
DEFAULT_DEBOUNCE = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 45, 60, 90, 120)
DEFAULT_MAX_WAIT = (15, 30, 60, 120, 300)
