"""Endpoint Explorer: the app shell and the non-UI core (models, config, inventory, vendors, simulators)."""
