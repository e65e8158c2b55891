namespace ssmsim::sim {}
