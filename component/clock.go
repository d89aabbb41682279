package component

import "time"

// Clock is the time source of a Gateway: the request deadlines, the ping
// schedule and the reconnect backoff all go through it, so tests can run
// them in microseconds.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f on its own goroutine after d; its Timer's C is
	// nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer a Gateway uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
