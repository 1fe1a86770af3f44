"""The Dagster code location of corpusmill: definitions, resources, partitions, jobs, schedules,
sensors, and the ``corpusmill`` CLI."""
