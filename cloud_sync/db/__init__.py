"""Database layer: declarative models, engine/session helpers and migrations runner."""
