"""Prefect flows: thin wiring of tasks that call the core (matchers/, schemas/)."""
