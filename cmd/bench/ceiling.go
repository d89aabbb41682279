package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmpp-http-auth/http-auth/i18n"
	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// ceiling is a bare XEP-0114 component on the same Prosody, with no HTTP
// and no gateway: it sends confirm requests straight to the people and
// waits for their answers, which is the most any gateway could get out of
// this Prosody and these clients.
type ceiling struct {
	c       *xmpptest.Client
	texts   *i18n.Catalog
	waiters sync.Map // iq stanza id or confirm id -> chan string
	seq     atomic.Uint64
	prefix  string
	once    sync.Once
}

func dialCeiling(ctx context.Context, p *prosodytest.Server, texts *i18n.Catalog) (*ceiling, error) {
	var pre [4]byte
	_, _ = rand.Read(pre[:])
	cl := &ceiling{texts: texts, prefix: hex.EncodeToString(pre[:])}
	c, err := xmpptest.DialComponent(ctx, p.ComponentAddr, ceilingDomain, p.Secret)
	if err != nil {
		return nil, fmt.Errorf("the bare component %s: %w", ceilingDomain, err)
	}
	c.Handle(cl.handle)
	cl.c = c
	return cl, nil
}

func (cl *ceiling) close() { cl.once.Do(func() { _ = cl.c.Close() }) }

// handle hands each answer to its waiter: an iq answer by its stanza id, a
// message answer by the id of its <confirm/>.
func (cl *ceiling) handle(_ *xmpptest.Client, s xmpptest.Stanza) {
	var key string
	switch {
	case s.Name == "iq" && (s.Type == "result" || s.Type == "error"):
		key = s.ID
	case s.Name == "message" && s.HasConfirm():
		key = s.ConfirmID()
	default:
		return
	}
	if w, ok := cl.waiters.LoadAndDelete(key); ok {
		outcome := "approved"
		if s.IsError() {
			outcome = "error"
		}
		w.(chan string) <- outcome
	}
}

func (cl *ceiling) nextID() string {
	return cl.prefix + strconv.FormatUint(cl.seq.Add(1), 36)
}

// wait waits for the answer registered under key, up to the request
// timeout the gateway phases use.
func (cl *ceiling) wait(ctx context.Context, key string, ch chan string) string {
	t := time.NewTimer(requestTimeout * time.Second)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
	case <-ctx.Done():
	}
	if _, ok := cl.waiters.LoadAndDelete(key); !ok {
		return <-ch // answered just now
	}
	return "lost"
}

// iqWorker sends the iq form to full JIDs (XEP-0070 section 4.2).
func (cl *ceiling) iqWorker(jids []string) func(ctx context.Context, i int) func() string {
	return func(ctx context.Context, i int) func() string {
		to := jids[i%len(jids)]
		ch := make(chan string, 1)
		return func() string {
			id := cl.nextID()
			cl.waiters.Store(id, ch)
			if err := cl.c.SendConfirmIQWithID(to, id, id[len(id)-8:], askMethod, askURL); err != nil {
				cl.waiters.Delete(id)
				return "error"
			}
			return cl.wait(ctx, id, ch)
		}
	}
}

// messageWorker sends the message form to bare JIDs, the same shape the
// gateway sends (XEP-0070 section 4.3): type normal, a thread, one body per
// language of messages.toml and the <confirm/>.
func (cl *ceiling) messageWorker(jids []string) func(ctx context.Context, i int) func() string {
	return func(ctx context.Context, i int) func() string {
		to := jids[i%len(jids)]
		ch := make(chan string, 1)
		var b bytes.Buffer
		return func() string {
			id := cl.nextID()
			code := id[len(id)-8:] + "c" + strconv.Itoa(i)
			b.Reset()
			b.WriteString("<message type='normal' from='" + ceilingDomain + "' to='")
			escape(&b, to)
			b.WriteString("' id='")
			escape(&b, id)
			b.WriteString("'><thread>")
			escape(&b, id+"t")
			b.WriteString("</thread>")
			for _, t := range cl.texts.Bodies(askURL, askMethod, code) {
				b.WriteString("<body xml:lang='")
				escape(&b, t.Lang)
				b.WriteString("'>")
				escape(&b, t.Body)
				b.WriteString("</body>")
			}
			b.WriteString("<confirm xmlns='" + xmpptest.NSHTTPAuth + "' id='")
			escape(&b, code)
			b.WriteString("' method='" + askMethod + "' url='")
			escape(&b, askURL)
			b.WriteString("'/></message>")
			cl.waiters.Store(code, ch)
			if err := cl.c.SendRaw(b.String()); err != nil {
				cl.waiters.Delete(code)
				return "error"
			}
			return cl.wait(ctx, code, ch)
		}
	}
}

func escape(b *bytes.Buffer, s string) { _ = xml.EscapeText(b, []byte(s)) }
