"""Roster schemas, header aliases, vocabularies, division codes and policy rules, declared as data."""
