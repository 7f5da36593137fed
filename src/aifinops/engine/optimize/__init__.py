"""Optimize: recommendations in the levers' order, each priced by the what-if of its own scenario."""
