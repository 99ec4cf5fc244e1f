"""Access control: signed, expiring, slide-scoped tokens and the checks that enforce them."""
