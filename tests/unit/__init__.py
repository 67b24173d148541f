"""The unit tier: the rules, codecs and parts that need no backend."""
