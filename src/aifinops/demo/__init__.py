"""The simulated estate, month, bill and incident behind ``aifinops demo``."""
