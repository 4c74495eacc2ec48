"""The all-in-one `panchang run`: a private Redis, demo users, and Beat + worker processes."""
