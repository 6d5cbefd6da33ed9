"""Adapters: each one implements a port against one outside system."""
