package component

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Stanzas sent at once from many goroutines all reach the server whole,
// each sender's in its order.
func TestConcurrentSendsArriveWhole(t *testing.T) {
	ours, theirs := net.Pipe()
	s := newStream(ours, &Options{WriteTimeout: 5 * time.Second})
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(theirs); got <- b }()
	const senders, each = 8, 300
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := s.send(fmt.Appendf(nil, "<iq id='%d-%d'/>", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// close writes </stream:stream> after what is queued has been taken:
	// wait for the queue to drain first.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.qmu.Lock()
		n := len(s.queue)
		s.qmu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last batch's write
	s.close()
	wire := <-got
	wire = bytes.TrimSuffix(wire, []byte("</stream:stream>"))
	next := make([]int, senders)
	n := 0
	for _, m := range regexp.MustCompile(`<iq id='(\d+)-(\d+)'/>`).FindAllSubmatch(wire, -1) {
		g, _ := strconv.Atoi(string(m[1]))
		i, _ := strconv.Atoi(string(m[2]))
		if i != next[g] {
			t.Fatalf("sender %d: stanza %d after %d", g, i, next[g]-1)
		}
		next[g]++
		n++
	}
	if n != senders*each || len(regexp.MustCompile(`<iq id='\d+-\d+'/>`).ReplaceAll(wire, nil)) != 0 {
		t.Fatalf("%d stanzas whole of %d; %d stray bytes", n, senders*each, len(wire))
	}
}

// A server that stops reading makes sends fail once 1 MiB waits behind
// the stalled write, instead of piling up; what was queued is reported
// lost when that write fails.
func TestSendBacklogIsBounded(t *testing.T) {
	ours, theirs := net.Pipe() // nobody reads theirs: the first write blocks
	s := newStream(ours, &Options{WriteTimeout: time.Minute})
	stalled := make(chan error, 1)
	go func() { stalled <- s.send([]byte("<iq id='first'/>")) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.qmu.Lock()
		busy := s.busy
		s.qmu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first write never started")
		}
		time.Sleep(time.Millisecond)
	}
	var lost sync.WaitGroup
	stanza := bytes.Repeat([]byte("x"), 4096)
	var err error
	for i := 0; i < 2*maxQueued/len(stanza) && err == nil; i++ {
		lost.Add(1)
		if err = s.sendOr(stanza, func(error) { lost.Done() }); err != nil {
			lost.Done()
		}
	}
	if !errors.Is(err, errBacklog) {
		t.Fatalf("got %v, want errBacklog", err)
	}
	_ = theirs.Close() // the stalled write fails
	if err := <-stalled; err == nil {
		t.Fatal("the stalled write succeeded")
	}
	done := make(chan struct{})
	go func() { lost.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("queued stanzas were not reported lost")
	}
	if err := s.send([]byte("<iq/>")); err == nil {
		t.Fatal("a send after a failed write succeeded")
	}
	s.close()
}
