"""What every API endpoint shares: one error shape, bounded JSON, throttles, headers."""
