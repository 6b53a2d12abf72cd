// Package testservers is a nested Go module holding the test-only servers that
// scripts/test-all builds and starts (currently an embedded FerretDB).
//
// It has its own go.mod so that the servers' large dependency trees never enter
// the backupkit library's go.mod. Nothing in the library imports it.
package testservers
