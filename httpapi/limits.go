package httpapi

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// The configuration keys of the limits, named in the 429 answers so an
// operator knows which one to raise. (httpapi does not import config: the
// names are the API's contract, spelled here once.)
const (
	LimitNamePendingPerJID              = "limit_pending_per_jid"
	LimitNameRequestsPerJIDPerMinute    = "limit_requests_per_jid_per_minute"
	LimitNameRequestsPerCallerPerSecond = "limit_requests_per_caller_per_second"
	LimitNamePendingTotal               = "limit_pending_total"
)

// Limits are the abuse limits of SPEC section 4. Zero (or less) disables
// each one.
type Limits struct {
	// PendingPerJID caps the requests pending at once for one bare JID.
	PendingPerJID int
	// RequestsPerJIDPerMinute refills a token bucket per bare JID, the
	// limit against prompt bombing (XEP-0070's security considerations).
	// The bucket holds PendingPerJID tokens, or RequestsPerJIDPerMinute
	// when PendingPerJID is 0 (a minute's worth).
	RequestsPerJIDPerMinute int
	// RequestsPerCallerPerSecond refills a token bucket per caller (an API
	// key, or else a client address) holding twice that.
	RequestsPerCallerPerSecond int
	// PendingTotal caps the requests pending at once in all.
	PendingTotal int
}

// LimitError is a request refused by a limit: a 429 with Retry-After.
type LimitError struct {
	// Limit is the configuration key of the limit hit (LimitName*).
	Limit string
	// Detail is the text after "rate_limited: "; it names the limit.
	Detail string
	// RetryAfter is how long the caller should wait: whole seconds, at
	// least one.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return "httpapi: rate_limited: " + e.Detail }

// globalRetryAfter is the Retry-After of limit_pending_total: when the
// whole gateway is full, requests end all the time, and which one ends
// first is not worth tracking.
const globalRetryAfter = time.Second

// Eviction of idle buckets: the tables of callers and of JIDs are swept
// (every idle entry dropped, the map rebuilt so its memory shrinks too)
// when they have doubled since the last sweep, and at least once every
// sweepEvery while in use. So a table never holds more than about twice
// its live entries, or sweepMinSize, whichever is larger.
const (
	sweepMinSize = 1024
	sweepEvery   = time.Minute
)

// Limiter enforces Limits. A nil *Limiter enforces nothing. It is safe for
// concurrent use; each check takes one mutex for a map lookup and a little
// arithmetic, and no goroutine is ever started.
//
// Token buckets are kept as one instant each (the generic cell rate
// algorithm): the time at which the bucket will be full again. A bucket
// whose instant has passed is full, the same as no bucket at all, so it
// can be forgotten.
type Limiter struct {
	lim Limits
	now func() time.Time

	// Per bare JID: one token every jidInterval, jidBurst at most.
	jidInterval time.Duration
	jidBurst    int
	// Per caller: one token every callerInterval, callerBurst at most.
	callerInterval time.Duration
	callerBurst    int

	callerMu sync.Mutex
	callers  sweptMap[bucket]

	mu      sync.Mutex // guards jids and pending
	jids    sweptMap[jidState]
	pending int
}

// NewLimiter returns a Limiter for lim; now is its clock (nil means
// time.Now), injectable so tests need no sleeps.
func NewLimiter(lim Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{lim: lim, now: now}
	if lim.RequestsPerJIDPerMinute > 0 {
		l.jidInterval = time.Minute / time.Duration(lim.RequestsPerJIDPerMinute)
		l.jidBurst = lim.PendingPerJID
		if l.jidBurst <= 0 {
			l.jidBurst = lim.RequestsPerJIDPerMinute
		}
	}
	if lim.RequestsPerCallerPerSecond > 0 {
		l.callerInterval = time.Second / time.Duration(lim.RequestsPerCallerPerSecond)
		l.callerBurst = satMul(lim.RequestsPerCallerPerSecond, 2)
	}
	return l
}

// AllowCaller takes one token from caller's bucket (limit
// limit_requests_per_caller_per_second), or returns a *LimitError.
// caller names the caller: an API key's id (KeyID), or a client address
// (the handler passes IPv6 addresses as their /64).
func (l *Limiter) AllowCaller(caller string) error {
	if l == nil || l.callerInterval <= 0 {
		return nil
	}
	now := l.now()
	l.callerMu.Lock()
	defer l.callerMu.Unlock()
	b := l.callers.get(caller, now, func(b *bucket) bool { return b.full(now) })
	if wait := b.wait(now, l.callerInterval, l.callerBurst); wait > 0 {
		return &LimitError{
			Limit: LimitNameRequestsPerCallerPerSecond,
			Detail: fmt.Sprintf("caller %s sent too many requests: at most %d per second, bursts of %d (%s)",
				caller, l.lim.RequestsPerCallerPerSecond, l.callerBurst, LimitNameRequestsPerCallerPerSecond),
			RetryAfter: retryAfter(wait),
		}
	}
	b.take(now, l.callerInterval)
	return nil
}

// Acquire counts one more request pending for the bare JID jid, which
// will wait at most timeout, after checking limit_pending_total, then
// limit_pending_per_jid, then limit_requests_per_jid_per_minute (whose
// token it then takes). It returns a *LimitError, or release, which must
// be called once the request has ended, whatever its outcome; calling it
// again does nothing.
func (l *Limiter) Acquire(jid string, timeout time.Duration) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.PendingTotal > 0 && l.pending >= l.lim.PendingTotal {
		return nil, &LimitError{
			Limit:      LimitNamePendingTotal,
			Detail:     fmt.Sprintf("the gateway already has %s (%s)", pendingRequests(l.pending), LimitNamePendingTotal),
			RetryAfter: globalRetryAfter,
		}
	}
	var st *jidState
	if l.lim.PendingPerJID > 0 || l.jidInterval > 0 {
		st = l.jids.get(jid, now, func(s *jidState) bool { return s.idle(now) })
		var bucketWait time.Duration
		if l.jidInterval > 0 {
			bucketWait = st.bucket.wait(now, l.jidInterval, l.jidBurst)
		}
		if l.lim.PendingPerJID > 0 && len(st.deadlines) >= l.lim.PendingPerJID {
			// A slot frees at the latest when the first of them times
			// out; by then a token may be needed too.
			return nil, &LimitError{
				Limit:      LimitNamePendingPerJID,
				Detail:     fmt.Sprintf("%s already has %s (%s)", jid, pendingRequests(len(st.deadlines)), LimitNamePendingPerJID),
				RetryAfter: retryAfter(max(st.earliest().Sub(now), bucketWait)),
			}
		}
		if bucketWait > 0 {
			return nil, &LimitError{
				Limit: LimitNameRequestsPerJIDPerMinute,
				Detail: fmt.Sprintf("%s was asked too often: at most %d per minute, bursts of %d (%s)",
					jid, l.lim.RequestsPerJIDPerMinute, l.jidBurst, LimitNameRequestsPerJIDPerMinute),
				RetryAfter: retryAfter(bucketWait),
			}
		}
		if l.jidInterval > 0 {
			st.bucket.take(now, l.jidInterval)
		}
	}
	deadline := now.Add(timeout)
	if st != nil && l.lim.PendingPerJID > 0 {
		st.deadlines = append(st.deadlines, deadline)
	} else {
		st = nil // nothing to undo for the JID
	}
	l.pending++
	released := false
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if released {
			return
		}
		released = true
		l.pending--
		if st == nil {
			return
		}
		st.remove(deadline)
		// A JID asked once is usually forgotten at the next sweep; one
		// whose bucket is off (or already full) can go at once.
		if st.idle(l.now()) && l.jids.m[jid] == st {
			delete(l.jids.m, jid)
		}
	}, nil
}

// Pending returns how many requests are pending (acquired, not yet
// released).
func (l *Limiter) Pending() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// callerKey returns the name under which a client address is rate
// limited: the address itself for IPv4, and its /64 for IPv6, since one
// host commonly holds a whole /64 and could otherwise change address for
// every request. An IPv4-mapped IPv6 address counts as IPv4; anything
// that is not an address is used as given.
func callerKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// bucket is a token bucket kept as one instant: tat ("theoretical arrival
// time") is when it will be full again. The zero bucket is full.
type bucket struct{ tat time.Time }

// full reports whether the bucket holds every token at now.
func (b *bucket) full(now time.Time) bool { return !b.tat.After(now) }

// wait returns 0 when a token is there at now, else how long until one
// is, for a bucket refilled one token every interval and holding burst.
func (b *bucket) wait(now time.Time, interval time.Duration, burst int) time.Duration {
	// burst-1 tokens may be owed: the bucket is empty once tat is that far
	// ahead of now.
	allowAt := b.tat.Add(-satDur(interval, burst-1))
	if now.Before(allowAt) {
		return allowAt.Sub(now)
	}
	return 0
}

// take removes one token (after wait has said there is one).
func (b *bucket) take(now time.Time, interval time.Duration) {
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(interval)
}

// jidState is what the Limiter keeps for one bare JID.
type jidState struct {
	bucket bucket
	// deadlines of the pending requests, when limit_pending_per_jid is
	// on: at most that many.
	deadlines []time.Time
}

func (s *jidState) idle(now time.Time) bool { return len(s.deadlines) == 0 && s.bucket.full(now) }

func (s *jidState) earliest() time.Time {
	e := s.deadlines[0]
	for _, d := range s.deadlines[1:] {
		if d.Before(e) {
			e = d
		}
	}
	return e
}

// remove drops one deadline equal to d (equal ones are interchangeable).
func (s *jidState) remove(d time.Time) {
	for i, x := range s.deadlines {
		if x.Equal(d) {
			last := len(s.deadlines) - 1
			s.deadlines[i] = s.deadlines[last]
			s.deadlines[last] = time.Time{}
			s.deadlines = s.deadlines[:last]
			return
		}
	}
}

// sweptMap is a map of per-key state that forgets idle entries (see
// sweepMinSize). Not safe for concurrent use: its owner locks.
type sweptMap[V any] struct {
	m         map[string]*V
	sweepAt   int // sweep when len(m) reaches this
	lastSweep time.Time
}

// get returns key's entry, a new zero one if there is none, after a sweep
// when one is due. idle reports whether an entry equals a new one.
func (s *sweptMap[V]) get(key string, now time.Time, idle func(*V) bool) *V {
	if s.m == nil {
		s.m = make(map[string]*V)
		s.sweepAt = sweepMinSize
		s.lastSweep = now
	}
	if len(s.m) >= s.sweepAt || now.Sub(s.lastSweep) >= sweepEvery {
		s.sweep(now, idle)
	}
	v, ok := s.m[key]
	if !ok {
		v = new(V)
		s.m[key] = v
	}
	return v
}

// sweep keeps the entries that are not idle in a new map (Go maps never
// give memory back), and sets the next sweep at twice their number.
func (s *sweptMap[V]) sweep(now time.Time, idle func(*V) bool) {
	kept := make(map[string]*V)
	for k, v := range s.m {
		if !idle(v) {
			kept[k] = v
		}
	}
	s.m = kept
	s.sweepAt = max(sweepMinSize, satMul(len(kept), 2))
	s.lastSweep = now
}

func pendingRequests(n int) string {
	if n == 1 {
		return "1 pending request"
	}
	return fmt.Sprintf("%d pending requests", n)
}

// retryAfter rounds d up to whole seconds, at least one.
// Waits are bounded (a timeout, or satDur's ceiling), so this never
// overflows.
func retryAfter(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return s * time.Second
}

// satMul returns a*b for non-negative ints, or the largest int on
// overflow.
func satMul(a, b int) int {
	if a > 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// satDur returns d*n for a positive d and n ≥ 0, saturating far in the
// future (a century) rather than overflowing.
func satDur(d time.Duration, n int) time.Duration {
	const ceiling = 100 * 365 * 24 * time.Hour
	if n <= 0 {
		return 0
	}
	if d > 0 && time.Duration(n) > ceiling/d {
		return ceiling
	}
	return d * time.Duration(n)
}
