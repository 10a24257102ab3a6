"""Import every module that defines tables, so that Database creates them all."""
