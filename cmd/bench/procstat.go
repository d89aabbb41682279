package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ (getconf CLK_TCK), the unit of the
// CPU times in /proc/PID/stat: 100 on every Linux architecture Go runs on
// but alpha and ia64.
const clockTicks = 100

// cpuTime returns the CPU time (user + system) a process has used, from its
// own accounting in /proc/PID/stat ("self" for this process).
func cpuTime(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14 and
	// 15, so the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// memKiB returns a field of /proc/PID/status in KiB: VmRSS (resident now)
// or VmHWM (the peak since start or the last resetPeak).
func memKiB(pid, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB"))
		return strconv.ParseInt(rest, 10, 64)
	}
	return 0, fmt.Errorf("/proc/%s/status: no %s", pid, field)
}

// resetPeak sets VmHWM back to the current RSS (Linux 4.0+), so the peak
// of each phase can be read on its own. It reports whether that worked.
func resetPeak(pid string) bool {
	return os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0) == nil
}

// cpuSample is the CPU time of the three processes at one moment.
type cpuSample struct {
	at                       time.Time
	gateway, prosody, driver time.Duration
	// busy is the CPU time every process of the machine used (from
	// /proc/stat), so others' load shows next to ours.
	busy time.Duration
}

// procs names the processes a phase watches. gateway is "" for phases
// without the gateway.
type procs struct {
	gateway, prosody string
}

func (p procs) sample() cpuSample {
	s := cpuSample{at: time.Now()}
	if p.gateway != "" {
		s.gateway, _ = cpuTime(p.gateway)
	}
	s.prosody, _ = cpuTime(p.prosody)
	s.driver, _ = cpuTime("self")
	s.busy, _ = machineBusy()
	return s
}

// machineBusy returns the CPU time all CPUs spent on anything but idle
// and iowait since boot, from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for i, s := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// machine describes where the benchmark runs.
type machine struct {
	nproc    int
	cpuModel string
	goVer    string // the toolchain that built the gateway
	prosody  string
	gwVer    string
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}
