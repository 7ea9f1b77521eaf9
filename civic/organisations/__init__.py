"""Civil-society organisations (associations): registration, verification by council staff, members."""
