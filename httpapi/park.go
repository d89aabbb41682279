package httpapi

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Asker is a Confirmer that can also send a request without waiting for
// its answer (component.Gateway is one). With an Asker, /auth parks the
// requests still waiting after Options.ParkAfter: see park.
type Asker interface {
	Ask(req auth.Request) (auth.Pending, error)
}

// DefaultParkAfter is used when Options.ParkAfter is zero: an answer that
// comes sooner (a machine, a benchmark) keeps its connection alive; a
// person's answer takes seconds and is waited for parked.
const DefaultParkAfter = 250 * time.Millisecond

const (
	// parkAtOnceAbove is how many requests may wait on net/http (each
	// holding ~16 KiB there) before new ones are parked at once instead of
	// after ParkAfter: a burst of requests costs little more than the
	// parked requests it leaves, and a throughput of machine-speed answers
	// (up to this many in flight) keeps its connections alive.
	parkAtOnceAbove = 512
	// parkedWriteTimeout bounds writing the answer of a parked request.
	parkedWriteTimeout = 10 * time.Second
	// parkedMaxJunk is how much a caller may send after its request while
	// it is parked (a pipelined request, say, which is never answered)
	// before the request counts as cancelled and the connection is closed.
	parkedMaxJunk = 16 << 10
)

// ask sends req through a and waits for its outcome; past s.parkAfter the
// request is parked. end answers and logs (handleAuth's completion); it is
// called exactly once, here or, when ask reports true, on the parked
// request's goroutine.
func (s *server) ask(w http.ResponseWriter, r *http.Request, a Asker, req auth.Request, end func(http.ResponseWriter, *http.Request, auth.Decision, error)) (parked bool) {
	p, err := a.Ask(req)
	if err != nil {
		end(w, r, auth.Decision{}, err)
		return false
	}
	if s.waiting.Add(1) > s.parkAtOnce && s.park(w, r, p, end) {
		s.waiting.Add(-1)
		return true
	}
	defer s.waiting.Add(-1)
	timer := time.NewTimer(s.parkAfter)
	select {
	case <-p.Done():
		timer.Stop()
	case <-r.Context().Done():
		timer.Stop()
		p.Cancel()
	case <-timer.C:
		if s.park(w, r, p, end) {
			return true
		}
		select {
		case <-p.Done():
		case <-r.Context().Done():
			p.Cancel()
		}
	}
	dec, err := p.Result()
	end(w, r, dec, err)
	return false
}

// park takes a request that is still waiting off net/http: it hijacks the
// connection, so net/http's goroutine returns and drops the connection's
// buffers, and leaves one small goroutine reading the connection, which
// notices a caller hanging up (and cancels the request) and is woken when
// the answer comes (Pending.Notify sets a past read deadline). The answer
// is then written as net/http would, with Connection: close. A pending
// request so costs a few KiB instead of net/http's ~16 (docs/PERFORMANCE.md).
// It reports false, having done nothing, when the connection cannot be
// hijacked (HTTP/2, or a ResponseWriter that is not net/http's).
func (s *server) park(w http.ResponseWriter, r *http.Request, p auth.Pending, end func(http.ResponseWriter, *http.Request, auth.Decision, error)) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	// Counted before Hijack: from there on net/http's Shutdown no longer
	// waits for this connection, and Serve must.
	s.parked.add(1)
	conn, _, err := hj.Hijack()
	if err != nil {
		s.parked.add(-1)
		return false
	}
	// What write needs of the request: its Accept header and protocol.
	// Anything the caller sent after its request is dropped with the
	// hijacked buffers: the answer closes the connection.
	accept := r.Header.Values("Accept")
	http10 := !r.ProtoAtLeast(1, 1)
	go s.waitParked(conn, accept, http10, p, end)
	return true
}

// waitParked is the goroutine of a parked request.
func (s *server) waitParked(conn net.Conn, accept []string, http10 bool, p auth.Pending, end func(http.ResponseWriter, *http.Request, auth.Decision, error)) {
	defer s.parked.add(-1)
	defer conn.Close()
	defer func() {
		// net/http's goroutine, which recovered a handler's panic, has
		// returned: a panic here must not end the process.
		if v := recover(); v != nil {
			s.logger.Error("panic while answering a parked request", "panic", v)
		}
	}()
	p.Notify(func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	var b [1]byte
	junk := 0
	for {
		n, err := conn.Read(b[:])
		if ended(p) {
			break
		}
		junk += n
		if err != nil || junk > parkedMaxJunk {
			p.Cancel() // the caller hung up (or will not stop talking)
			break
		}
	}
	dec, err := p.Result()
	r := &http.Request{ProtoMajor: 1, ProtoMinor: 1}
	if http10 {
		r.ProtoMinor = 0
	}
	if len(accept) > 0 {
		r.Header = http.Header{"Accept": accept}
	}
	pw := &parkedWriter{}
	end(pw, r, dec, err)
	if pw.code == statusCanceled {
		return // nobody reads it
	}
	_ = conn.SetWriteDeadline(time.Now().Add(parkedWriteTimeout))
	_, _ = conn.Write(pw.response(r))
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
}

func ended(p auth.Pending) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// parkedWriter collects the answer to a parked request, for write (which
// sets the headers and the body) and then the connection.
type parkedWriter struct {
	h    http.Header
	code int
	body []byte
}

func (w *parkedWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header, 8)
	}
	return w.h
}

func (w *parkedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *parkedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}

// response is the whole answer as net/http writes it: status line, the
// headers with Date and Connection: close, the body.
func (w *parkedWriter) response(r *http.Request) []byte {
	w.WriteHeader(http.StatusOK)
	h := w.Header()
	h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	h["Connection"] = []string{"close"}
	b := make([]byte, 0, 256+len(w.body))
	if r.ProtoAtLeast(1, 1) {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(w.code), 10)
	if text := http.StatusText(w.code); text != "" {
		b = append(append(b, ' '), text...)
	} else {
		b = append(b, " status code "...)
		b = strconv.AppendInt(b, int64(w.code), 10)
	}
	b = append(b, "\r\n"...)
	buf := byteBuffer{b}
	_ = h.Write(&buf)
	return append(append(buf.b, "\r\n"...), w.body...)
}

type byteBuffer struct{ b []byte }

func (w *byteBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
