"""Operator dashboard: a server-rendered page kept live by Server-Sent Events."""
