"""Perception: turn raw sensor data into model inputs (voice activity, speech recognition, face)."""
