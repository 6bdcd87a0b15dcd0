"""Run folders: schema, execution, records, locks, reading and comparison."""
