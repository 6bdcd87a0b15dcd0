"""Run folders: the schema of their files, papermill execution, reading and comparing runs."""
