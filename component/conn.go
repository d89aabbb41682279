package component

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Run connects to the server and keeps the stream alive until ctx is
// done: it reconnects with capped exponential backoff (with jitter) after
// a refused handshake, a stream error, a server-side close, a read error or
// a ping that got no answer. It returns nil when ctx is done, after
// closing the stream politely.
func (g *Gateway) Run(ctx context.Context) error {
	backoff := g.opts.BackoffMin
	for {
		s, err := dialStream(ctx, g.opts.Address, g.opts.Domain, g.opts.Secret, &g.opts)
		if ctx.Err() != nil {
			if s != nil {
				s.close()
			}
			return nil
		}
		if err != nil {
			var he *HandshakeError
			if errors.As(err, &he) {
				g.log.Error(err.Error(), "retry_in", backoff)
			} else {
				g.log.Warn("cannot connect to the XMPP server", "server", g.opts.Address, "domain", g.opts.Domain, "err", err, "retry_in", backoff)
			}
		} else {
			g.log.Info("connected to the XMPP server", "server", g.opts.Address, "domain", g.opts.Domain)
			backoff = g.opts.BackoffMin
			err = g.serve(ctx, s)
			if ctx.Err() != nil {
				return nil
			}
			g.log.Warn("lost the XMPP stream, reconnecting", "server", g.opts.Address, "err", err)
		}
		if !g.sleep(ctx, g.jitter(backoff)) {
			return nil
		}
		backoff = min(backoff*2, g.opts.BackoffMax)
	}
}

// jitter spreads d over [d/2, d], so many gateways do not reconnect in step.
func (g *Gateway) jitter(d time.Duration) time.Duration {
	var b [8]byte
	if _, err := g.opts.Rand.Read(b[:]); err != nil || d < 2 {
		return d
	}
	half := d / 2
	return half + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(half+1))
}

func (g *Gateway) sleep(ctx context.Context, d time.Duration) bool {
	t := g.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// serve reads s until it fails or ctx is done, pinging the server to
// notice a dead or silent stream. It publishes s as the live stream for
// its lifetime.
func (g *Gateway) serve(ctx context.Context, s *stream) error {
	g.cur.Store(s)
	defer g.cur.CompareAndSwap(s, nil)

	readErr := make(chan error, 1)
	go func() {
		for {
			in, err := s.next()
			if err != nil {
				readErr <- err
				return
			}
			g.handle(s, in)
		}
	}()
	pingErr := make(chan error, 1)
	pctx, stopPing := context.WithCancel(ctx)
	go func() { pingErr <- g.pinger(pctx, s) }()

	var err error
	select {
	case err = <-readErr:
	case err = <-pingErr:
	case <-ctx.Done():
	}
	stopPing()
	g.cur.CompareAndSwap(s, nil) // no new sends on a dying stream
	s.close()
	return err
}

// pinger sends a XEP-0199 ping every PingInterval and fails when one gets
// no answer (result or error: either proves the stream) in PingTimeout.
func (g *Gateway) pinger(ctx context.Context, s *stream) error {
	for {
		if !g.sleep(ctx, g.opts.PingInterval) {
			return nil
		}
		id := g.newID()
		pong := make(chan struct{}, 1)
		g.pongs.Store(id, pong)
		err := s.send(pingIQ(g.opts.Domain, g.opts.PingTo, id))
		if err == nil {
			t := g.opts.Clock.NewTimer(g.opts.PingTimeout)
			select {
			case <-pong:
			case <-t.C():
				err = fmt.Errorf("component: no answer to a ping within %v", g.opts.PingTimeout)
			case <-ctx.Done():
			}
			t.Stop()
		}
		g.pongs.Delete(id)
		if err != nil {
			return err
		}
	}
}
