// Command bench measures the gateway end to end, for `make bench` (issue 5):
// a throwaway Prosody (generational GC), fast Go XMPP clients (xmpptest)
// that approve every confirm request at once, and the http-auth binary as
// a separate process. It prints one table:
//
//   - the ceiling: confirm round trips per second through the same Prosody
//     with no HTTP and no gateway (a bare component of our own sending iq
//     confirms straight to the clients' full JIDs; and, for reference, the
//     gateway's message form to their bare JIDs), at 1, 50 and 200 in flight;
//   - the gateway: /auth approvals per second at the same levels, iq path
//     (full JIDs) and message path (bare JIDs), with p50/p90/p99 and the
//     status codes, and the ratio to the ceiling measured just before;
//   - the cost: gateway CPU time per approval from /proc/PID/stat, the
//     CPU used by Prosody, the gateway and this driver, and the gateway's
//     peak RSS per phase;
//   - the capacity: N requests (10,000) pending at once for a user who is
//     logged in and never answers, with their timeout: RSS while pending,
//     bytes per pending request, and when each got its 401.
//
// Every phase of a level runs back to back (ceiling, then gateway iq, then
// gateway message), so the ratios compare figures measured within seconds
// of each other on a shared, noisy machine: the bare component uses a
// second component domain of the same Prosody, so it stays connected while
// the gateway runs.
//
// Everything talks to 127.0.0.1 only, and every process started here
// (Prosody, the gateway) is stopped by its PID before the program exits.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/i18n"
	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	gateway        string
	messages       string
	duration       time.Duration
	warmup         time.Duration
	levels         []int
	sessions       int
	pending        int
	pendingTimeout int
	rampInflight   int
	rounds         int
	noMsgCeiling   bool
	keep           bool
	profile        string
	httpClient     string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.gateway, "gateway", "./http-auth", "the gateway binary (make build)")
	fs.StringVar(&o.messages, "messages", "messages.toml", "the messages file, for the bodies of the message-form ceiling")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each throughput phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each throughput phase")
	levels := fs.String("levels", "1,50,200", "requests in flight, comma-separated")
	fs.IntVar(&o.sessions, "sessions", 8, "XMPP users answering (one resource each)")
	fs.IntVar(&o.pending, "pending", 10000, "requests pending at once in the capacity phase (0 skips it)")
	fs.IntVar(&o.pendingTimeout, "pending-timeout", 30, "their timeout parameter, in seconds")
	fs.IntVar(&o.rampInflight, "ramp", 256, "capacity phase: connections being opened at once while the pending requests are sent")
	fs.IntVar(&o.rounds, "rounds", 1, "run every level this many times; ratios are the median of the rounds' ratios (for noisy machines)")
	fs.BoolVar(&o.noMsgCeiling, "no-message-ceiling", false, "skip the message-form ceiling rows")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder (Prosody's and the gateway's logs)")
	fs.StringVar(&o.profile, "profile", "", "write the gateway's profiles into this folder: a CPU profile of each gateway phase's measured window, a heap profile and runtime/metrics with all capacity requests pending (needs a gateway built with -tags pprof: make bench-profile)")
	fs.StringVar(&o.httpClient, "http-client", "raw", "the HTTP client of the gateway phases: raw (a minimal keep-alive HTTP/1.1 client, cheap for the core the driver shares with the gateway) or net/http (Go's)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.httpClient != "raw" && o.httpClient != "net/http" {
		return nil, fmt.Errorf("-http-client: %q is neither raw nor net/http", o.httpClient)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for f := range strings.SplitSeq(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-levels: %q is not a positive number", f)
		}
		o.levels = append(o.levels, n)
	}
	switch {
	case o.duration <= 0 || o.warmup < 0:
		return nil, errors.New("-duration must be positive and -warmup not negative")
	case o.sessions < 1 || o.rounds < 1:
		return nil, errors.New("-sessions and -rounds must be at least 1")
	case o.pending < 0 || o.pendingTimeout < 1 || o.rampInflight < 1:
		return nil, errors.New("-pending must not be negative, -pending-timeout and -ramp must be positive")
	}
	return o, nil
}

const (
	userPassword = "bench-pw"
	// ceilingDomain is the bare component's own domain on the same Prosody.
	ceilingDomain = "ceiling.localhost"
	// askURL and askMethod are what every request asks about.
	askURL    = "https://shop.example/login"
	askMethod = "POST"
	// requestTimeout is the timeout of throughput requests: an approval
	// takes milliseconds, so it is only hit if something is lost.
	requestTimeout = 10
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	gwBin, err := filepath.Abs(o.gateway)
	if err != nil {
		return err
	}
	if _, err := os.Stat(gwBin); err != nil {
		return fmt.Errorf("the gateway binary: %w (run make build)", err)
	}
	msgs, err := os.ReadFile(o.messages)
	if err != nil {
		return fmt.Errorf("the messages file: %w", err)
	}
	texts, err := i18n.Load(msgs, "", "en")
	if err != nil {
		return err
	}
	var prof *profiler
	if o.profile != "" {
		if prof, err = newProfiler(o.profile, gwBin); err != nil {
			return err
		}
	}
	started := time.Now()
	m := describeMachine(gwBin)
	loadBefore := loadavg()

	dir, err := os.MkdirTemp("", "http-auth-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "bench: work folder", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bench: %s %6.1fs  %s\n", time.Now().Format("15:04:05.0"), time.Since(started).Seconds(), fmt.Sprintf(format, a...))
	}

	users := map[string]string{idleUser: userPassword}
	for i := range o.sessions {
		users[answerUser(i)] = userPassword
	}
	logf("starting Prosody (gc generational) with %d users", len(users))
	p, err := prosodytest.StartDemo(filepath.Join(dir, "prosody"), prosodytest.Options{
		Users:           users,
		GenerationalGC:  true,
		ExtraComponents: []string{ceilingDomain},
	})
	if err != nil {
		return err
	}
	defer func() { _ = p.Stop() }()
	prosodyPID := strconv.Itoa(p.PID())

	// The people: one resource each, so a message to a bare JID reaches
	// exactly one session.
	var people []*xmpptest.Client
	defer func() {
		for _, c := range people {
			_ = c.Close()
		}
	}()
	for i := range o.sessions {
		c, err := dialPerson(ctx, p, answerUser(i), approveAll)
		if err != nil {
			return err
		}
		people = append(people, c)
	}
	idle := &idleCounter{}
	idleClient, err := dialPerson(ctx, p, idleUser, idle.handle)
	if err != nil {
		return err
	}
	people = append(people, idleClient)

	ceil, err := dialCeiling(ctx, p, texts)
	if err != nil {
		return err
	}
	defer ceil.close()

	logf("starting the gateway %s", o.gateway)
	gw, err := startGateway(ctx, dir, "throughput", gwBin, p, prof)
	if err != nil {
		return err
	}
	defer gw.stop()

	var rows []*phaseResult // in the order first run
	runOne := func(round int, name string, n int, pr procs, gwPID string, mk workerFactory) error {
		var pw *profileWindow
		if prof != nil && gwPID != "" {
			pw = &profileWindow{p: prof, gw: gw, name: phaseName(name, n, round)}
		}
		r, err := runPhase(ctx, o, name, n, pr, gwPID, mk, pw)
		if err != nil {
			return err
		}
		_, _, _, others := r.cpu.percent()
		logf("round %d  %-16s %4d in flight: %8.0f/s  p50 %s  others %3.0f%%  %s", round, r.name, r.inflight, r.rate(), fmtDur(r.pct(50)), others, r.codesString())
		for _, row := range rows {
			if row.name == r.name && row.inflight == r.inflight {
				row.merge(r)
				return nil
			}
		}
		rows = append(rows, &r)
		return nil
	}
	client := newHTTPClient(max(512, 2*maxOf(o.levels)))
	raw := newRawClient(gw.base)
	worker := func(jids []string) workerFactory {
		if o.httpClient == "raw" {
			return raw.worker(gw.base, jids)
		}
		return httpWorker(client, gw.base, jids)
	}
	for round := 1; round <= o.rounds; round++ {
		for _, n := range o.levels {
			pr := procs{prosody: prosodyPID}
			if err := runOne(round, "ceiling iq", n, pr, "", ceil.iqWorker(fullJIDs(o.sessions))); err != nil {
				return err
			}
			if !o.noMsgCeiling {
				if err := runOne(round, "ceiling message", n, pr, "", ceil.messageWorker(bareJIDs(o.sessions))); err != nil {
					return err
				}
			}
			pr.gateway = gw.pid
			if err := runOne(round, "gateway iq", n, pr, gw.pid, worker(fullJIDs(o.sessions))); err != nil {
				return err
			}
			if err := runOne(round, "gateway message", n, pr, gw.pid, worker(bareJIDs(o.sessions))); err != nil {
				return err
			}
		}
	}
	client.CloseIdleConnections()
	raw.closeIdle()
	peakAll, _ := memKiB(gw.pid, "VmHWM")
	gw.stop()
	ceil.close()

	var capRes *capacityResult
	if o.pending > 0 {
		// A fresh gateway, so the baseline is not the heap left over from
		// the throughput phases.
		logf("starting a fresh gateway for the capacity phase")
		gw2, err := startGateway(ctx, dir, "capacity", gwBin, p, prof)
		if err != nil {
			return err
		}
		defer gw2.stop()
		logf("capacity: %d requests for %s, timeout %d s", o.pending, idleJID(), o.pendingTimeout)
		capRes, err = runCapacity(ctx, o, gw2, procs{gateway: gw2.pid, prosody: prosodyPID}, idle, prof, logf)
		if err != nil {
			return err
		}
		gw2.stop()
	}

	rep := report{
		m:          m,
		opts:       o,
		loadBefore: loadBefore,
		loadAfter:  loadavg(),
		rows:       rows,
		capacity:   capRes,
		peakRSSKiB: peakAll,
		elapsed:    time.Since(started),
		gwVersion:  gw.version,
		bodies:     len(texts.Bodies(askURL, askMethod, "CODE")),
	}
	rep.print(stdout)
	if prof != nil {
		prof.print(stdout, gwBin)
	}
	return nil
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

const idleUser = "idle"

func answerUser(i int) string { return "u" + strconv.Itoa(i) }

func idleJID() string { return idleUser + "@localhost/r" }

func fullJIDs(n int) []string {
	var js []string
	for i := range n {
		js = append(js, answerUser(i)+"@localhost/r")
	}
	return js
}

func bareJIDs(n int) []string {
	var js []string
	for i := range n {
		js = append(js, answerUser(i)+"@localhost")
	}
	return js
}

// dialPerson logs user in with resource "r" and the given handler.
func dialPerson(ctx context.Context, p *prosodytest.Server, user string, h xmpptest.Handler) (*xmpptest.Client, error) {
	c, err := xmpptest.DialConfig(ctx, xmpptest.Config{
		Addr: p.C2SAddr, JID: user + "@" + p.Domain, Password: userPassword, Resource: "r", Handler: h,
	})
	if err != nil {
		return nil, fmt.Errorf("logging in %s: %w", user, err)
	}
	return c, nil
}

// approveAll answers every confirm request at once, in its own form.
func approveAll(c *xmpptest.Client, s xmpptest.Stanza) {
	if !s.HasConfirm() || s.Type == "error" || s.Type == "result" {
		return
	}
	if s.Name == "iq" {
		_ = c.ApproveIQ(s)
	} else {
		_ = c.ApproveMessage(s)
	}
}

func describeMachine(gwBin string) machine {
	m := machine{nproc: runtime.NumCPU(), cpuModel: cpuModel(), goVer: runtime.Version(), prosody: "unknown", gwVer: "unknown"}
	if bi, err := buildinfo.ReadFile(gwBin); err == nil {
		m.goVer = bi.GoVersion
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "prosody").Output(); err == nil {
		m.prosody = strings.TrimSpace(string(out))
	}
	return m
}
