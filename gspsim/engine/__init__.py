"""The SimPy engine: the simulation itself, its cost model, buffers and lower bounds."""
