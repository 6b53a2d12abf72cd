//go:build race

package main_test

func testingRace() bool { return true }
