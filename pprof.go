//go:build pprof

// The profiling build of the gateway (make bench-profile builds it with
// -tags pprof; no other build contains this file). It has no HTTP
// endpoint: when HTTP_AUTH_PROFILE_DIR names a folder, signals write
// profiles there, for cmd/bench -profile:
//
//   - SIGUSR1 starts a CPU profile, DIR/NAME.cpu.pprof, and the next
//     SIGUSR1 stops it (written to NAME.cpu.pprof.partial while running,
//     renamed when complete);
//   - SIGUSR2 runs a GC, then writes a heap profile, DIR/NAME.heap.pprof,
//     and a few runtime/metrics, DIR/NAME.metrics.txt (written last, so
//     its presence says both are complete).
//
// NAME is the content of DIR/phase when the signal arrives (trimmed), or
// profile-N (a counter) when that file is missing, empty or names a path.
// Without HTTP_AUTH_PROFILE_DIR no signal handler is installed, so SIGUSR1
// and SIGUSR2 keep their default action (the process ends).

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

const pprofDirEnv = "HTTP_AUTH_PROFILE_DIR"

func init() {
	dir := os.Getenv(pprofDirEnv)
	if dir == "" {
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	p := &pprofSignals{dir: dir}
	go func() {
		for s := range sigs {
			var err error
			if s == syscall.SIGUSR1 {
				err = p.toggleCPU()
			} else {
				err = p.heap()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "http-auth pprof: %v\n", err)
			}
		}
	}()
}

// pprofSignals is the state of the profiling build; only the goroutine of
// init touches it.
type pprofSignals struct {
	dir     string
	n       int      // the counter of default names
	cpu     *os.File // the running CPU profile, nil when none
	cpuPath string   // its final name
}

// name is the name of the next profile: DIR/phase, or profile-N.
func (p *pprofSignals) name() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "phase"))
	name := strings.TrimSpace(string(b))
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		p.n++
		name = fmt.Sprintf("profile-%d", p.n)
	}
	return name
}

func (p *pprofSignals) toggleCPU() error {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		f, final := p.cpu, p.cpuPath
		p.cpu, p.cpuPath = nil, ""
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), final); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "http-auth pprof: CPU profile written to %s\n", final)
		return nil
	}
	final := filepath.Join(p.dir, p.name()+".cpu.pprof")
	f, err := os.Create(final + ".partial")
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	p.cpu, p.cpuPath = f, final
	fmt.Fprintf(os.Stderr, "http-auth pprof: CPU profile started, to %s\n", final)
	return nil
}

// pprofMetrics are the runtime/metrics written by SIGUSR2; those this Go
// does not know are left out.
var pprofMetrics = []string{
	"/sched/goroutines:goroutines",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
}

func (p *pprofSignals) heap() error {
	name := p.name()
	runtime.GC()
	heapPath := filepath.Join(p.dir, name+".heap.pprof")
	if err := pprofWriteFile(heapPath, func(f *os.File) error {
		return pprof.Lookup("heap").WriteTo(f, 0)
	}); err != nil {
		return err
	}
	samples := make([]metrics.Sample, len(pprofMetrics))
	for i, m := range pprofMetrics {
		samples[i].Name = m
	}
	metrics.Read(samples)
	var b strings.Builder
	fmt.Fprintf(&b, "# http-auth pprof build, %s, after runtime.GC(); heap profile: %s\n",
		time.Now().UTC().Format(time.RFC3339), filepath.Base(heapPath))
	fmt.Fprintf(&b, "# runtime.NumGoroutine counts the program's goroutines; /sched/goroutines:goroutines the runtime's own too\n")
	fmt.Fprintf(&b, "runtime.NumGoroutine %d\n", runtime.NumGoroutine())
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v := s.Value.Uint64()
			if strings.HasSuffix(s.Name, ":bytes") {
				fmt.Fprintf(&b, "%s %d (%.1f MiB)\n", s.Name, v, float64(v)/(1<<20))
			} else {
				fmt.Fprintf(&b, "%s %d\n", s.Name, v)
			}
		}
	}
	metricsPath := filepath.Join(p.dir, name+".metrics.txt")
	if err := pprofWriteFile(metricsPath, func(f *os.File) error {
		_, err := f.WriteString(b.String())
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "http-auth pprof: heap profile and metrics written to %s, %s\n", heapPath, metricsPath)
	return nil
}

// pprofWriteFile writes path.partial and renames it to path once complete.
func pprofWriteFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path + ".partial")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
