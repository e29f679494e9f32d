"""Income service: income records, recurring other income, platform-fee recomputation."""
