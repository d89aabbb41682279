package component

// Benchmarks of the component's hot paths, one at a time (issue 5): what
// each approval costs in classifying answers, in the transaction table and
// in building stanzas, and the whole Confirm round trip over loopback
// against an in-process server that approves at once. Run them with
//
//	go test -run '^$' -bench . -benchmem -count 6 ./component
//
// (make bench-go), and compare runs with benchstat.

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
	"github.com/xmpp-http-auth/http-auth/i18n"
)

// Answer shapes as real clients and servers send them.
const (
	benchComponent = "auth.localhost"
	benchFull      = "alice@localhost/phone"
	benchBare      = "alice@localhost"
	benchSID       = "q3Nw8dTT0a1bGm5e"
	benchCode      = "7KQ2M9XH"
)

var benchShapes = []struct {
	name string
	asIQ bool
	raw  string
}{
	{"iq result (approve)", true,
		"<iq type='result' id='" + benchSID + "' from='" + benchFull + "' to='" + benchComponent + "'/>"},
	{"iq error not-authorized (deny)", true,
		"<iq type='error' id='" + benchSID + "' from='" + benchFull + "' to='" + benchComponent + "'>" +
			"<confirm xmlns='" + NSHTTPAuth + "' id='" + benchCode + "' method='POST' url='https://shop.example/login'/>" +
			"<error code='401' type='auth'><not-authorized xmlns='" + nsStanzas + "'/></error></iq>"},
	{"iq error service-unavailable (fallback)", true,
		"<iq type='error' id='" + benchSID + "' from='" + benchFull + "' to='" + benchComponent + "'>" +
			"<error type='cancel'><service-unavailable xmlns='" + nsStanzas + "'/></error></iq>"},
	{"message confirm (approve)", false,
		"<message type='normal' id='m1' from='" + benchFull + "' to='" + benchComponent + "'><thread>Zq0tH1tq4wRkA9pD</thread>" +
			"<confirm xmlns='" + NSHTTPAuth + "' id='" + benchCode + "' method='POST' url='https://shop.example/login'/></message>"},
	{"message bounce prosody (unreachable)", false,
		"<message type='error' id='" + benchSID + "' from='" + benchBare + "' to='" + benchComponent + "'>" +
			"<error type='cancel'><service-unavailable xmlns='" + nsStanzas + "'/></error></message>"},
	{"message plain-text code (approve)", false,
		"<message type='chat' id='m2' from='" + benchFull + "' to='" + benchComponent + "'><body> " + benchCode + " </body>" +
			"<active xmlns='http://jabber.org/protocol/chatstates'/></message>"},
}

// BenchmarkParseClassify decodes one answer from raw XML (parseStanza, as
// the tests and the fuzzer do) and classifies it.
func BenchmarkParseClassify(b *testing.B) {
	for _, sh := range benchShapes {
		raw := []byte(sh.raw)
		b.Run(sh.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				in, err := parseStanza(raw)
				if err != nil {
					b.Fatal(err)
				}
				if classify(in, sh.asIQ) == 0 {
					b.Fatal("no verdict")
				}
			}
		})
	}
}

// endlessConn is a net.Conn whose reads return a stream header and then
// the same stanza for ever; writes are discarded.
type endlessConn struct {
	net.Conn // nil: only the methods below are called
	head     []byte
	stanza   []byte
	off      int
}

func (c *endlessConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(c.head) > 0 {
			k := copy(p[n:], c.head)
			c.head = c.head[k:]
			n += k
			continue
		}
		k := copy(p[n:], c.stanza[c.off:])
		c.off = (c.off + k) % len(c.stanza)
		n += k
	}
	return n, nil
}

func (c *endlessConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *endlessConn) Close() error                { return nil }

const benchStreamHeader = "<?xml version='1.0'?><stream:stream xmlns='" + nsComponent + "' xmlns:stream='" + nsStream +
	"' from='" + benchComponent + "' id='s1'>"

// BenchmarkStreamNext is what the gateway's reader really runs for each
// answer: stream.next (the streaming decoder of the component stream,
// namespaces inherited from the stream header) and classify.
func BenchmarkStreamNext(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			c := &endlessConn{head: []byte(benchStreamHeader), stanza: []byte(sh.raw)}
			s := newStream(c, &Options{})
			if _, err := s.readHeader(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(sh.raw)))
			for b.Loop() {
				in, err := s.next()
				if err != nil {
					b.Fatal(err)
				}
				if classify(in, sh.asIQ) == 0 {
					b.Fatal("no verdict")
				}
			}
		})
	}
}

// BenchmarkHandleAnswer is the reader's work after decoding: routing the
// stanza, checking the sender (RFC 7622 normalisation), finding the
// transaction and deciding it, with a transaction pending each time.
func BenchmarkHandleAnswer(b *testing.B) {
	full, err := auth.ParseJID(benchFull)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		raw   string
		bind  func(g *Gateway, x *txn, sid string)
		setID func(in *inStanza, sid string)
	}{
		{"iq result", benchShapes[0].raw,
			func(g *Gateway, x *txn, sid string) { g.txns.bindIQ(x, sid, full.String()) },
			func(in *inStanza, sid string) { in.ID = sid }},
		// The sender spelled otherwise than the JID asked: answerIQ
		// normalises it (PRECIS, IDNA) before comparing.
		{"iq result from another spelling", strings.Replace(benchShapes[0].raw, benchFull, "Alice@LocalHost/phone", 1),
			func(g *Gateway, x *txn, sid string) { g.txns.bindIQ(x, sid, full.String()) },
			func(in *inStanza, sid string) { in.ID = sid }},
		{"message confirm", benchShapes[3].raw,
			func(g *Gateway, x *txn, sid string) { g.txns.bindMessage(x, sid) },
			func(in *inStanza, sid string) {}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := New(Options{Domain: benchComponent})
			in, err := parseStanza([]byte(tc.raw))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				sid := benchSID + strconv.Itoa(i)
				x, ok := g.txns.add(benchCode, full.Bare())
				if !ok {
					b.Fatal("duplicate")
				}
				tc.bind(g, x, sid)
				tc.setID(in, sid)
				g.handle(nil, in)
				<-x.done
				if v := x.v; v != vApprove {
					b.Fatalf("verdict %v", v)
				}
			}
		})
	}
}

// BenchmarkTable runs the life of one transaction (add, bind its iq, look
// the answer up, decide, read the verdict) from every P, with none or
// 10,000 other transactions pending.
func BenchmarkTable(b *testing.B) {
	for _, pending := range []int{0, 10000} {
		b.Run("pending="+strconv.Itoa(pending), func(b *testing.B) {
			t := newTable()
			for i := range pending {
				x, _ := t.add("idle"+strconv.Itoa(i), "idle@localhost")
				t.bindIQ(x, "idle-sid-"+strconv.Itoa(i), "idle@localhost/r")
			}
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := strconv.FormatInt(worker.Add(1), 10)
				bare := "user" + w + "@localhost"
				full := bare + "/r"
				n := 0
				for pb.Next() {
					n++
					id := strconv.Itoa(n)
					x, ok := t.add(id, bare)
					if !ok {
						b.Error("duplicate")
						return
					}
					sid := w + "-" + id
					t.bindIQ(x, sid, full)
					y, isIQ, to, _ := t.byStanzaID(sid)
					if y != x || !isIQ || to != full {
						b.Error("lookup failed")
						return
					}
					t.decide(y, vApprove)
					<-x.done
				}
			})
		})
	}
}

func benchRequest(b *testing.B, jid string) *auth.Request {
	j, err := auth.ParseJID(jid)
	if err != nil {
		b.Fatal(err)
	}
	return &auth.Request{JID: j, TransactionID: benchCode, Method: "POST", URL: "https://shop.example/login", Timeout: time.Minute}
}

func benchCatalog(b *testing.B) *i18n.Catalog {
	src, err := os.ReadFile("../messages.toml")
	if err != nil {
		b.Fatal(err)
	}
	c, err := i18n.Load(src, "", "en")
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkBuildConfirm builds what Confirm sends: the iq for a full JID,
// and the message for a bare JID with the bodies of every language of the
// real messages.toml (rendering included, as askMessage does).
func BenchmarkBuildConfirm(b *testing.B) {
	g := New(Options{Domain: benchComponent})
	b.Run("iq", func(b *testing.B) {
		req := benchRequest(b, benchFull)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := confirmIQ(benchComponent, req.JID.String(), g.newID(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message with bodies", func(b *testing.B) {
		req := benchRequest(b, benchBare)
		texts := benchCatalog(b)
		b.ReportAllocs()
		for b.Loop() {
			bodies := texts.EscapedBodies(req.URL, req.Method, req.TransactionID)
			if _, err := confirmMessage(benchComponent, req.JID.Bare(), g.newID(), g.newID(), req, bodies, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message with bodies escaped per message", func(b *testing.B) {
		req := benchRequest(b, benchBare)
		texts := benchCatalog(b)
		b.ReportAllocs()
		for b.Loop() {
			bodies := texts.Bodies(req.URL, req.Method, req.TransactionID)
			if _, err := confirmMessage(benchComponent, req.JID.Bare(), g.newID(), g.newID(), req, bodies, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message stanza only", func(b *testing.B) {
		req := benchRequest(b, benchBare)
		bodies := benchCatalog(b).Bodies(req.URL, req.Method, req.TransactionID)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := confirmMessage(benchComponent, req.JID.Bare(), benchSID, benchSID, req, bodies, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stanza id", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = g.newID()
		}
	})
}

// approvingServer is an in-process XEP-0114 server on loopback that
// approves every confirm at once: an iq result for an iq, a message with
// the <confirm/> for a message. It stands for Prosody and the person, so
// a profile of BenchmarkConfirmLoopback shows the gateway's own work (the
// server's shows up under approvingServer).
type approvingServer struct {
	ln     net.Listener
	secret string
	wg     sync.WaitGroup
}

func startApprovingServer(b *testing.B, secret string) *approvingServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &approvingServer{ln: ln, secret: secret}
	s.wg.Go(s.accept)
	b.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *approvingServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *approvingServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	dec := xml.NewDecoder(br)
	w := bufio.NewWriter(c)
	domain := ""
	for domain == "" {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			domain = attr(se, "to")
		}
	}
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns:stream='%s' xmlns='%s' from='%s' id='bench'>", nsStream, nsComponent, domain)
	var hs struct {
		Digest string `xml:",chardata"`
	}
	if err := nextElement(dec, &hs); err != nil {
		return
	}
	sum := sha1.Sum([]byte("bench" + s.secret))
	if hs.Digest != hex.EncodeToString(sum[:]) {
		return
	}
	_, _ = io.WriteString(c, "<handshake/>")
	for {
		var in inStanza
		if err := nextElement(dec, &in); err != nil {
			return
		}
		switch {
		case in.XMLName.Local == "iq" && in.Type == "get" && in.Confirm != nil:
			fmt.Fprintf(w, "<iq type='result' id='%s' from='%s' to='%s'/>", in.ID, in.To, in.From)
		case in.XMLName.Local == "iq" && in.Type == "get":
			fmt.Fprintf(w, "<iq type='result' id='%s' from='%s' to='%s'/>", in.ID, in.To, in.From) // pings
		case in.XMLName.Local == "message" && in.Confirm != nil:
			fmt.Fprintf(w, "<message type='normal' id='a%s' from='%s/r' to='%s'><confirm xmlns='%s' id='%s' method='POST' url='u'/></message>",
				in.ID, in.To, in.From, NSHTTPAuth, in.Confirm.ID)
		default:
			continue
		}
		if br.Buffered() == 0 { // answer in batches while requests keep coming
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func nextElement(dec *xml.Decoder, v any) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return dec.DecodeElement(v, &t)
		case xml.EndElement:
			return io.EOF
		}
	}
}

// BenchmarkConfirmLoopback is Gateway.Confirm end to end over a real
// XEP-0114 stream on loopback, the server approving at once, from
// GOMAXPROCS×8 goroutines at a time: the component's whole cost per
// approval (build, write, read, decode, classify, table, timer), without
// HTTP. Its CPU profile is the component's share of the gateway's.
func BenchmarkConfirmLoopback(b *testing.B) {
	for _, tc := range []struct{ name, jid string }{{"iq", benchFull}, {"message", benchBare}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := startApprovingServer(b, "s3cret")
			g := New(Options{
				Domain: benchComponent, Secret: "s3cret", Address: srv.ln.Addr().String(),
				PingInterval: time.Hour, Texts: benchCatalog(b),
				Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = g.Run(ctx) }()
			b.Cleanup(func() { cancel(); <-done })
			deadline := time.Now().Add(10 * time.Second)
			for g.Ready() != nil {
				if time.Now().After(deadline) {
					b.Fatal("the gateway never connected to the in-process server")
				}
				time.Sleep(time.Millisecond)
			}
			jid, err := auth.ParseJID(tc.jid)
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := auth.Request{JID: jid, TransactionID: "T" + strconv.FormatInt(seq.Add(1), 36),
						Method: "POST", URL: "https://shop.example/login", Timeout: 10 * time.Second}
					if _, err := g.Confirm(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
