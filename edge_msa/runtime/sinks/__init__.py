"""Where events go: console, JSON lines, annotated video, local HTTP endpoint."""
