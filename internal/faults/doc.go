// Package faults injects failures for the reliability tests: a TCP proxy
// that can be cut, stalled or slowed (Proxy), an http.RoundTripper that
// answers chosen requests with errors, drops or stalls them or trickles
// their bodies (Transport), and a destination and a writer that run out of
// space (NoSpaceDestination, NoSpaceWriter).
//
// Everything here is for tests. Each fault is switched on and off at run
// time, from any goroutine.
package faults
