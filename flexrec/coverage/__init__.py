"""Every call leg of a period with its recording outcome: the report, its facts and rules."""
