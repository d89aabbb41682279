package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

// profileDirEnv tells the profiling build of the gateway (pprof.go, built
// with -tags pprof) where to write its profiles; it then writes them on
// SIGUSR1 (CPU profile on, off) and SIGUSR2 (heap profile and
// runtime/metrics), named after the file DIR/phase.
const profileDirEnv = "HTTP_AUTH_PROFILE_DIR"

// profiler drives the profiling build's signals for -profile.
type profiler struct {
	dir     string
	written []string // files made in this run, in order
}

// newProfiler checks that bin is the profiling build (a SIGUSR1 would end
// any other) and creates dir.
func newProfiler(dir, bin string) (*profiler, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("-profile: %w", err)
	}
	tagged := false
	for _, s := range bi.Settings {
		if s.Key == "-tags" && slices.Contains(strings.Split(s.Value, ","), "pprof") {
			tagged = true
		}
	}
	if !tagged {
		return nil, fmt.Errorf("-profile: %s was not built with -tags pprof (make bench-profile builds bin/http-auth-pprof)", bin)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	return &profiler{dir: abs}, nil
}

// phaseName is the profile name of a phase: "gateway iq" at 50 in flight
// is gateway-iq-50, with -rN after it from the second round on.
func phaseName(name string, inflight, round int) string {
	s := strings.ReplaceAll(name, " ", "-") + "-" + strconv.Itoa(inflight)
	if round > 1 {
		s += "-r" + strconv.Itoa(round)
	}
	return s
}

// signal writes DIR/phase, removes what a previous run left under the
// names awaited, sends sig to the gateway and waits until the file
// awaited appears: the gateway has then handled the signal.
func (p *profiler) signal(ctx context.Context, gw *gatewayProc, sig syscall.Signal, name string, stale []string, await string) error {
	if err := os.WriteFile(filepath.Join(p.dir, "phase"), []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	for _, s := range stale {
		if err := os.Remove(filepath.Join(p.dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := gw.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	path := filepath.Join(p.dir, await)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-gw.done:
			return fmt.Errorf("profile %s: the gateway exited\n%s", name, servertest.Tail(gw.logPath, 10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("profile %s: no %s after 30 s\n%s", name, path, servertest.Tail(gw.logPath, 10))
		}
	}
}

// startCPU starts the gateway's CPU profile NAME.cpu.pprof.
func (p *profiler) startCPU(ctx context.Context, gw *gatewayProc, name string) error {
	f := name + ".cpu.pprof"
	return p.signal(ctx, gw, syscall.SIGUSR1, name, []string{f, f + ".partial"}, f+".partial")
}

// stopCPU stops it and waits until it is written.
func (p *profiler) stopCPU(ctx context.Context, gw *gatewayProc, name string) error {
	f := name + ".cpu.pprof"
	if err := p.signal(ctx, gw, syscall.SIGUSR1, name, nil, f); err != nil {
		return err
	}
	p.written = append(p.written, f)
	return nil
}

// heap has the gateway write NAME.heap.pprof and NAME.metrics.txt, and
// returns the metrics (name, value).
func (p *profiler) heap(ctx context.Context, gw *gatewayProc, name string) (map[string]int64, error) {
	h, m := name+".heap.pprof", name+".metrics.txt"
	if err := p.signal(ctx, gw, syscall.SIGUSR2, name, []string{h, m}, m); err != nil {
		return nil, err
	}
	p.written = append(p.written, h, m)
	b, err := os.ReadFile(filepath.Join(p.dir, m))
	if err != nil {
		return nil, err
	}
	vals := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(line, "#") {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				vals[f[0]] = v
			}
		}
	}
	return vals, nil
}

// profileWindow wraps a gateway phase's measured window in a CPU profile.
type profileWindow struct {
	p    *profiler
	gw   *gatewayProc
	name string
}

// print says where the profiles are and how to read them.
func (p *profiler) print(w io.Writer, gwBin string) {
	if len(p.written) == 0 {
		fmt.Fprintf(w, "\nprofiles: none written (folder %s)\n", p.dir)
		return
	}
	fmt.Fprintf(w, "\nprofiles of the gateway (profiling build), in %s:\n", p.dir)
	for _, f := range p.written {
		fmt.Fprintf(w, "- %s\n", f)
	}
	bin, dir := relPath(gwBin), relPath(p.dir)
	fmt.Fprintf(w, "read them with: go tool pprof -top -nodecount=25 %s %s\n", bin, filepath.Join(dir, p.written[0]))
}

// relPath is path relative to the working folder when it is under it.
func relPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
