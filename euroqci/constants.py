"""Physical constants and shared defaults, with units in their names."""

SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
EARTH_RADIUS_KM = 6371.0  # mean radius, IUGG
PLANCK_J_S = 6.626_070_15e-34
