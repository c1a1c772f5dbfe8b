"""Pure domain rules: no I/O, no framework imports, unit-testable in isolation."""
