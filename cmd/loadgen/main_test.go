package main

import (
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		parse    func() error
		wantFail bool
	}{
		{"default scenarios", func() error { _, err := parseScenarios(defaultScenarios); return err }, false},
		{"unknown scenario", func() error { _, err := parseScenarios("healthz,login"); return err }, true},
		{"no scenario", func() error { _, err := parseScenarios(" , "); return err }, true},
		{"default mix", func() error { _, err := parseMix(defaultMix); return err }, false},
		{"mix with zero weight", func() error { _, err := parseMix("healthz=0"); return err }, true},
		{"mix without weight", func() error { _, err := parseMix("healthz"); return err }, true},
		{"mix inside mix", func() error { _, err := parseMix("mixed=1"); return err }, true},
		{"mix of unknown scenario", func() error { _, err := parseMix("login=3"); return err }, true},
		{"key counts", func() error { _, err := parseCounts("0, 1000,1000000"); return err }, false},
		{"negative key count", func() error { _, err := parseCounts("-1"); return err }, true},
		{"key count not a number", func() error { _, err := parseCounts("1e6"); return err }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.parse(); (err != nil) != tc.wantFail {
				t.Fatalf("error = %v, want failure %v", err, tc.wantFail)
			}
		})
	}
	mix, _ := parseMix(defaultMix)
	total := 0
	for _, p := range mix {
		total += p.weight
	}
	if total != 100 || !slices.ContainsFunc(mix, func(p mixPart) bool { return p.name == "authcode" && p.weight == 10 }) {
		t.Fatalf("default mix %v: want weights adding to 100 with authcode 10", mix)
	}
	counts, _ := parseCounts("0, 1000,1000000")
	if !slices.Equal(counts, []int{0, 1000, 1000000}) {
		t.Fatalf("counts = %v", counts)
	}
}
