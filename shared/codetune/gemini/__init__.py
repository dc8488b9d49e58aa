"""Gemini supervised tuning: today's way to tune a code model from the same datasets."""
