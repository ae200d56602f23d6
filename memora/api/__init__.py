"""Whitelisted endpoints: parse, check permission, call a service. No business logic here."""
