"""Operations: views and checks of the running system (`panchang timeline`, ...)."""
