"""`debouncer tune`: the debounce window from measured timing, replayed through the product's own burst logic.

trace (what is replayed), sources (where timings come from), simulation (the virtual-clock pipeline), outcome (what
one candidate did to the person), gaps (the thought gap), cost, grid (the windows tried), recommend (every
candidate simulated, and the choice), report and html (what the operator reads).
"""
