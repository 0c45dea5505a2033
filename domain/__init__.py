"""The after-sales domain: pure models, policy, money, eligibility and action rules.

Nothing here does I/O or reads the clock; workflows import it and tests call it directly.
"""
