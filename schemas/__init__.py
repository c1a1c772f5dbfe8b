"""Wire contracts: what producers send us and what we publish. Pure pydantic, no I/O."""
