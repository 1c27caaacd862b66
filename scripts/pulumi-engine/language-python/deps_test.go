package main

import (
	"slices"
	"testing"
)

// The plugin versions we derive are the ones the CLI looks for in its plugin directory.
func TestPep440ToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"4.34.2": "4.34.2", "1.0": "1.0.0", "2": "2.0.0", "1.2.3.4": "1.2.3.4",
		"1.2.3a4": "1.2.3-alpha.4", "1.2.3b1": "1.2.3-beta.1", "1.2.3rc2": "1.2.3-rc.2",
		"1.2.3.post4": "1.2.3+post4", "1.2.3.dev5": "1.2.3+dev5", "1.2.3.post4.dev5": "1.2.3+post4dev5",
		"1.2.3rc1.post2": "1.2.3-rc.1+post2",
	} {
		if got, err := pep440ToSemver(in); err != nil || got != want {
			t.Errorf("pep440ToSemver(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1!2.0", "1.0.x", "abc", "1.0a"} {
		if got, err := pep440ToSemver(in); err == nil {
			t.Errorf("pep440ToSemver(%q) = %q; want an error", in, got)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "PATH=/venv/bin:/bin", "B=2"}, "PATH=/bin", "C=3", "A=4", "junk")
	want := []string{"A=4", "PATH=/bin", "B=2", "C=3"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %v; want %v", got, want)
	}
}
