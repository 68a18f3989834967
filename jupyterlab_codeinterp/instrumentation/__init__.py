"""Opt-in measuring tools for benchmarks: per-turn timing and event-loop lag sampling.

Both are off unless the server starts with their environment variable set
(``CODEINTERP_DEBUG_TURN_TIMING``, ``CODEINTERP_DEBUG_LOOP_LAG``); nothing here runs for users.
"""
