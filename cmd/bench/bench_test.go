package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs the whole benchmark, small and short, against a real
// Prosody and the real gateway binary: every phase of the table, the
// capacity phase and the verdicts come out, with no failure. It checks the
// benchmark works, not the figures (make bench measures those).
func TestBenchSmoke(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "http-auth")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("building the gateway: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	err := run(ctx, []string{"-gateway", bin, "-messages", "../../messages.toml", "-levels", "1,4",
		"-duration", "300ms", "-warmup", "100ms", "-pending", "300", "-pending-timeout", "2"}, &out, &errs)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errs.String())
	}
	report := out.String()
	for _, want := range []string{
		"| ceiling iq ", "| ceiling message ", "| gateway iq ", "| gateway message ",
		"| capacity: pending, never answered", "401:300",
		"failures (any outcome but 200 / approved, warm-up included): none",
		"early (before the deadline): 0; late (more than 1 s after): 0; lost (no answer): 0; another status: 0",
		"targets of issue 5",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s\n%s", want, report, errs.String())
		}
	}
}
