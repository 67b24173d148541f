"""What the test tiers share: made-up tenants, the WeChat double, pinned clocks, the backends
the flows run on and the events Lambda hands the handlers. Fixtures stay in tests/conftest.py."""
