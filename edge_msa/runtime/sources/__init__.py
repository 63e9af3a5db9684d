"""Sensors of the live pipeline: microphone, camera, media files (one thread each)."""
