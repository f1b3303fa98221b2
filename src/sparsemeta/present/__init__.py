"""Presentation: number formatting, plots and report files. Renders results; computes nothing."""
