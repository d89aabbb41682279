package component

import (
	"testing"
	"time"
)

// Stats, read by /metrics at every scrape: connected follows the live
// stream, and each stream lost while running counts one reconnect.
func TestStatsFollowTheStream(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	if up, n := New(Options{Domain: "auth.localhost"}).Stats(); up || n != 0 {
		t.Fatalf("a new gateway: Stats() = %v, %d; want false, 0", up, n)
	}
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitStats(t, g, true, 0)
	fc.close()
	fc2 := fs.conn(t)
	waitStats(t, g, true, 1)
	fc2.send(t, "</stream:stream>")
	fs.conn(t)
	waitStats(t, g, true, 2)
}

func waitStats(t *testing.T, g *Gateway, wantUp bool, wantN uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		up, n := g.Stats()
		if up == wantUp && n == wantN {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats() = %v, %d; want %v, %d", up, n, wantUp, wantN)
		}
		time.Sleep(time.Millisecond)
	}
}
