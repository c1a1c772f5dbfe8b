"""Settings and the configuration store (sellers, provider connections, channel mappings)."""
