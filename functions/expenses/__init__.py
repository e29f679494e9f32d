"""Expenses service: expenses and recurring expenses."""
