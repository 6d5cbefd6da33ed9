"""Media inside a burst: what it resolves to after the claim, and the parts one multimodal AI turn is made of."""
