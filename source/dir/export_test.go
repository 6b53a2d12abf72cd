package dir

// GNUSparseStream exposes gnuSparseStream to the external tests' fuzz seeds.
var GNUSparseStream = gnuSparseStream
