"""The end-to-end tier: the local stack, the sandbox's pushes to it, the report in Chromium."""
